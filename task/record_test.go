package task_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

func TestRecordRoundTrip(t *testing.T) {
	rec := sampleRecord(t)
	b, err := task.EncodeRecord(rec)
	require.NoError(t, err)
	got, err := task.DecodeRecord(b)
	require.NoError(t, err)
	require.Equal(t, rec, got)

	b2, err := task.EncodeRecord(got)
	require.NoError(t, err)
	require.Equal(t, b, b2, "re-encoding a decoded record gives the same bytes")
}

func TestRecordMinimal(t *testing.T) {
	rec := &task.Record{ID: "a", Program: "p", Status: task.Running}
	b, err := task.EncodeRecord(rec)
	require.NoError(t, err)
	require.Equal(t, `{0: 1, 1: "a", 2: "p", 3: 0, 5: "running"}`, task.Render(b))
	got, err := task.DecodeRecord(b)
	require.NoError(t, err)
	require.Equal(t, rec, got)
}

func TestRecordCheckProgram(t *testing.T) {
	reg := registry(t)
	rec := sampleRecord(t)
	p, err := reg.Resolve(rec)
	require.NoError(t, err)
	require.Equal(t, "greeter", p.ProgramName())
	in, err := task.DecodeInput(p, rec.Input)
	require.NoError(t, err)
	require.Equal(t, "Ann", in)

	tests := []struct {
		name string
		prog effect.AnyProgram
		want string
	}{
		{"other name", effect.NewProgram("billing", 2, func(string) effect.Eff[string] { return effect.Pure("") }),
			`task "t-1" runs greeter v2, not billing v2`},
		{"other version", effect.NewProgram("greeter", 3, func(string) effect.Eff[string] { return effect.Pure("") }),
			`task "t-1" runs greeter v2, not greeter v3`},
		{"other input type", effect.NewProgram("greeter", 2, func(int) effect.Eff[string] { return effect.Pure("") }),
			`decode input of greeter v2 as int`},
		{"nil", nil, "checked against no program"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rec.CheckProgram(tt.prog)
			require.ErrorIs(t, err, task.ErrProgramMismatch)
			require.ErrorContains(t, err, tt.want)
		})
	}

	rec.Version = 9
	_, err = reg.Resolve(rec)
	require.ErrorIs(t, err, task.ErrUnknownProgram)
	var upe *task.UnknownProgramError
	require.ErrorAs(t, err, &upe)
	require.Equal(t, task.UnknownProgramError{Name: "greeter", Version: 9}, *upe)
}

func TestRecordValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(r *task.Record)
		want   string
	}{
		{"no ID", func(r *task.Record) { r.ID = "" }, "no ID"},
		{"no program", func(r *task.Record) { r.Program = "" }, "no program name"},
		{"negative version", func(r *task.Record) { r.Version = -1 }, "negative program version"},
		{"unknown status", func(r *task.Record) { r.Status = "sleeping" }, `unknown status "sleeping"`},
		{"empty status", func(r *task.Record) { r.Status = "" }, `unknown status ""`},
		{"result and error", func(r *task.Record) { r.Result = []byte{0}; r.Err = &task.Error{Msg: "x"} }, "both a result and an error"},
		{"empty envelope", func(r *task.Record) { r.Mailbox = append(r.Mailbox, task.Envelope{Type: "x"}) }, "mailbox message 1"},
		{"journal gap", func(r *task.Record) { r.Journal[3].Seq = 5 }, "journal entry 3 (#5 task_test.GetUser): sequence number 5 leaves a gap (want 4)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := sampleRecord(t)
			tt.modify(rec)
			_, err := task.EncodeRecord(rec)
			require.ErrorContains(t, err, tt.want)
			require.True(t, errors.Is(err, task.ErrInvalidRecord) || errors.Is(err, task.ErrInvalidJournal), "%v", err)
		})
	}
}

// TestDecodeBadInput feeds DecodeRecord and DecodeJournal bytes that are not
// a valid task: each must give a clear error, and none may panic.
func TestDecodeBadInput(t *testing.T) {
	good, err := task.EncodeRecord(sampleRecord(t))
	require.NoError(t, err)
	goodJournal, err := task.EncodeJournal(sampleJournal(t))
	require.NoError(t, err)

	// rec encodes a record map with the given extra or replaced pairs.
	rec := func(pairs map[int]any) []byte {
		m := map[int]any{0: 1, 1: "t", 2: "p", 3: 1, 5: "running"}
		for k, v := range pairs {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return marshal(t, m)
	}
	deep := func(n int) []byte { return append(bytes.Repeat([]byte{0x81}, n), 0x00) }

	tests := []struct {
		name    string
		data    []byte
		journal bool // decode as a journal instead of a record
		is      error
		want    string
	}{
		{"empty", nil, false, task.ErrCorrupt, "EOF"},
		{"truncated", good[:len(good)/2], false, task.ErrCorrupt, "unexpected EOF"},
		{"truncated journal", goodJournal[:len(goodJournal)-3], true, task.ErrCorrupt, "unexpected EOF"},
		{"trailing bytes", append(bytes.Clone(good), 0x00), false, task.ErrCorrupt, "extraneous data"},
		{"not a map", marshal(t, "hello"), false, task.ErrCorrupt, "cannot unmarshal UTF-8 text string"},
		{"reserved byte", []byte{0x1c}, false, task.ErrCorrupt, "invalid additional information"},
		{"deep nesting", append([]byte{0xa1, 0x04}, deep(100)...), false, task.ErrCorrupt, "exceeded max nested level"},
		{"huge declared array", []byte{0xa2, 0x00, 0x01, 0x07, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false, task.ErrCorrupt, ""},
		{"huge declared string", []byte{0xa1, 0x01, 0x7b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false, task.ErrCorrupt, ""},
		{"indefinite length", []byte{0xbf, 0x00, 0x01, 0xff}, false, task.ErrCorrupt, "indefinite-length"},
		{"duplicate key", []byte{0xa3, 0x00, 0x01, 0x01, 0x61, 'a', 0x01, 0x61, 'b'}, false, task.ErrCorrupt, "duplicate map key"},
		{"wrong type for version", rec(map[int]any{3: "two"}), false, task.ErrCorrupt, "cannot unmarshal UTF-8 text string into Go struct field"},
		{"wrong type for journal", rec(map[int]any{7: "x"}), false, task.ErrCorrupt, "want an array of entries"},
		{"wrong type for entry", rec(map[int]any{7: []any{"x"}}), false, task.ErrCorrupt, "journal entry 0"},
		{"invalid UTF-8", []byte{0xa1, 0x01, 0x62, 0xff, 0xfe}, false, task.ErrCorrupt, "invalid UTF-8"},
		{"bad tag in input", bytes.Replace(rec(map[int]any{4: "PLACEHOLDER"}), marshal(t, "PLACEHOLDER"), []byte{0xc0, 0x41, 'x'}, 1),
			false, task.ErrCorrupt, "tag number 0 must be followed by text string"},
		{"bad tag in result", rec(map[int]any{7: []any{
			map[int]any{1: 1, 3: "k", 4: 0, 6: "PLACEHOLDER"},
		}}), false, task.ErrCorrupt, "tag number 1 must be followed by integer"},
		{"bad tag in a message", bytes.Replace(rec(map[int]any{8: []any{map[int]any{1: "shop.Order", 2: map[string]any{"At": "PLACEHOLDER"}}}}),
			marshal(t, "PLACEHOLDER"), []byte{0xc0, 0x41, 'x'}, 1),
			false, task.ErrCorrupt, "mailbox message 0: tag 0 (date/time) must be followed by a text string"},
		{"no format", rec(map[int]any{0: nil}), false, task.ErrFormat, "no format version"},
		{"future format", rec(map[int]any{0: 2}), false, task.ErrFormat, "unknown format version 2"},
		{"unknown status", rec(map[int]any{5: "zombie"}), false, task.ErrInvalidRecord, `unknown status "zombie"`},
		{"no ID", rec(map[int]any{1: nil}), false, task.ErrInvalidRecord, "no ID"},
		{"journal gap", rec(map[int]any{7: []any{
			map[int]any{1: 1, 3: "k", 4: 0}, map[int]any{1: 3, 3: "k", 4: 0},
		}}), false, task.ErrInvalidJournal, "journal entry 1 (#3 k): sequence number 3 leaves a gap (want 2)"},
		{"journal duplicate", rec(map[int]any{7: []any{
			map[int]any{1: 1, 3: "k", 4: 0}, map[int]any{1: 1, 3: "k", 4: 0},
		}}), false, task.ErrInvalidJournal, "sequence number 1 repeats"},
		{"bad fingerprint", rec(map[int]any{7: []any{
			map[int]any{1: 1, 3: "effect.NowOp", 4: 1, 5: map[int]any{}},
		}}), false, task.ErrInvalidJournal, "fingerprint 0000000000000001 does not match its op"},
		{"journal without format", marshal(t, map[int]any{1: []any{}}), true, task.ErrFormat, "no format version"},
		{"journal entry without kind", marshal(t, map[int]any{0: 1, 1: []any{map[int]any{1: 1}}}), true, task.ErrInvalidJournal, "no op kind"},
		{"journal is an array", marshal(t, []int{1}), true, task.ErrCorrupt, ""},
	}

	for i, tt := range tests {
		if tt.name == "bad tag in result" {
			tests[i].data = bytes.Replace(tt.data, marshal(t, "PLACEHOLDER"), []byte{0xc1, 0x60}, 1)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.journal {
				var j task.Journal
				j, err = task.DecodeJournal(tt.data)
				require.Nil(t, j)
			} else {
				var r *task.Record
				r, err = task.DecodeRecord(tt.data)
				require.Nil(t, r)
			}
			require.Error(t, err)
			t.Log(err)
			require.True(t, strings.HasPrefix(err.Error(), "task: decode "), "%q", err)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}
