package task_test

import (
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestJournalRoundTrip(t *testing.T) {
	j := sampleJournal(t)
	b, err := task.EncodeJournal(j)
	require.NoError(t, err)
	got, err := task.DecodeJournal(b)
	require.NoError(t, err)
	require.Equal(t, j, got)

	b2, err := task.EncodeJournal(got)
	require.NoError(t, err)
	require.Equal(t, b, b2)

	for _, e := range j {
		b, err := task.EncodeEntry(e)
		require.NoError(t, err)
		got, err := task.DecodeEntry(b)
		require.NoError(t, err)
		require.Equal(t, e, got)
	}

	empty, err := task.EncodeJournal(nil)
	require.NoError(t, err)
	require.Equal(t, "{0: 1}", task.Render(empty))
	got, err = task.DecodeJournal(empty)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestJournalValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(j task.Journal) task.Journal
		want   string
	}{
		{"starts at 0", func(j task.Journal) task.Journal { j[0].Seq = 0; return j }, "journal entry 0 (#0 effect.NowOp): sequence number 0 repeats or goes back (want 1)"},
		{"gap", func(j task.Journal) task.Journal { return append(j[:2], j[3:]...) }, "journal entry 2 (#4 task_test.GetUser): sequence number 4 leaves a gap (want 3)"},
		{"duplicate", func(j task.Journal) task.Journal { j[2].Seq = 2; return j }, "journal entry 2 (#2 task_test.GetUser): sequence number 2 repeats"},
		{"no kind", func(j task.Journal) task.Journal { j[1].Kind = ""; return j }, "journal entry 1 (#2 <no kind>): no op kind"},
		{"result and error", func(j task.Journal) task.Journal { j[0].Err = &task.Error{Msg: "x"}; return j }, "journal entry 0 (#1 effect.NowOp): both a result and an error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.modify(sampleJournal(t))
			err := j.Validate()
			require.ErrorIs(t, err, task.ErrInvalidJournal)
			require.ErrorContains(t, err, tt.want)
			var je *task.JournalError
			require.ErrorAs(t, err, &je)

			_, err = task.EncodeJournal(j)
			require.ErrorContains(t, err, "task: encode journal: "+tt.want)
		})
	}

	// Verify also checks fingerprints; Validate does not, so that a test
	// can tamper with a journal in memory to provoke a divergence.
	j := sampleJournal(t)
	j[2].Fingerprint++
	require.NoError(t, j.Validate())
	require.ErrorContains(t, j.Verify(), "journal entry 2 (#3 task_test.GetUser): fingerprint")
}

func TestEntryString(t *testing.T) {
	j := sampleJournal(t)
	want := []string{
		`#1 fiber 0 effect.NowOp -> 0("2024-05-01T10:00:00.123456789Z")`,
		`#2 fiber 0 effect.LogOp {"Msg": "start", "Attrs": [{"Key": "n", "Value": 3}], "Level": 0} -> {}`,
		`#3 fiber 1 task_test.GetUser {"ID": "7"} -> {"Name": "Ann", "Tags": {"a": 1, "b": 2}}`,
		`#4 fiber 2 task_test.GetUser {"ID": "8"} -> error users.NotFound: user 8: user not found`,
		`#5 fiber 0 effect.SleepOp {"Duration": 1000000000} -> {}`,
		`#6 fiber 0 effect.RandomOp -> 42`,
	}
	for i, e := range j {
		require.Equal(t, want[i], e.String())
	}

	long := task.Entry{Seq: 1, Kind: "k", Result: marshal(t, string(make([]byte, 500)))}
	require.Less(t, len(long.String()), 200)
	require.Equal(t, "#1 fiber 0 k -> <invalid CBOR: unexpected EOF>", task.Entry{Seq: 1, Kind: "k", Result: []byte{0x62}}.String())
}

// genJournal draws a valid journal with arbitrary contents.
func genJournal(t *rapid.T) task.Journal {
	n := rapid.IntRange(0, 20).Draw(t, "len")
	j := make(task.Journal, n)
	for i := range j {
		var op any
		switch rapid.IntRange(0, 3).Draw(t, "op") {
		case 0:
			op = effect.NowOp{}
		case 1:
			op = effect.SleepOp{Duration: time.Duration(rapid.Int64().Draw(t, "d"))}
		case 2:
			op = GetUser{ID: rapid.String().Draw(t, "id")}
		default:
			op = effect.SendOp{To: rapid.String().Draw(t, "to"),
				Msg: rapid.MapOf(rapid.String(), rapid.Int()).Draw(t, "msg")}
		}
		kind, data, fp, err := task.EncodeOp(op)
		if err != nil {
			t.Fatal(err)
		}
		e := task.Entry{Seq: uint64(i + 1), Fiber: rapid.Uint32().Draw(t, "fiber"), Kind: kind, Fingerprint: fp, Op: data}
		if rapid.Bool().Draw(t, "fails") {
			e.Err = &task.Error{Type: rapid.SampledFrom([]string{"", "x.Err"}).Draw(t, "type"), Msg: rapid.String().Draw(t, "msg")}
		} else {
			res, err := task.Marshal(rapid.OneOf(
				rapid.Map(rapid.Uint64(), func(x uint64) any { return x }),
				rapid.Map(rapid.String(), func(s string) any { return s }),
				rapid.Map(rapid.SliceOf(rapid.Float64()), func(f []float64) any { return f }),
			).Draw(t, "result"))
			if err != nil {
				t.Fatal(err)
			}
			e.Result = res
		}
		if rapid.Bool().Draw(t, "timed") {
			e.Time = time.Unix(0, rapid.Int64().Draw(t, "ns")).UTC()
		}
		j[i] = e
	}
	return j
}

// TestJournalRoundTripProperty: any valid journal decodes to itself, and its
// encoding is a function of its value. Rapid prints the seed of a failure;
// rerun it with -rapid.seed.
func TestJournalRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		j := genJournal(t)
		b, err := task.EncodeJournal(j)
		if err != nil {
			t.Fatal(err)
		}
		got, err := task.DecodeJournal(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(j) == 0 {
			j = nil
		}
		require.Equal(t, j, got)
		b2, err := task.EncodeJournal(got)
		if err != nil {
			t.Fatal(err)
		}
		require.Equal(t, b, b2)
	})
}

// flatOp has every kind of field that EncodeOp encodes without the general
// encoder.
type flatOp struct {
	effect.Returns[int]
	S      string
	B      bool
	I      int64 `cbor:"i,omitempty"`
	U      uint8
	N      int16         `cbor:"3,keyasint"`
	M      int32         `cbor:"-2,keyasint,omitempty"`
	Skip   string        `cbor:"-"`
	D      time.Duration `cbor:",omitzero"`
	U64    uint64
	hidden int
}

// TestEncodeOpMatchesMarshal: the fast encodings of EncodeOp are the bytes
// the general encoder gives.
func TestEncodeOpMatchesMarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		op := flatOp{
			S: rapid.String().Draw(t, "S"), B: rapid.Bool().Draw(t, "B"),
			I: rapid.Int64().Draw(t, "I"), U: rapid.Uint8().Draw(t, "U"),
			N: rapid.Int16().Draw(t, "N"), M: rapid.Int32().Draw(t, "M"),
			Skip: "x", D: time.Duration(rapid.Int64Range(-100, 100).Draw(t, "D")),
			U64: rapid.Uint64().Draw(t, "U64"), hidden: 1,
		}
		_, data, fp, err := task.EncodeOp(op)
		if err != nil {
			t.Fatal(err)
		}
		want, err := task.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		require.Equal(t, want, []byte(data))
		_, fp2, err := task.OpFingerprint(op)
		if err != nil {
			t.Fatal(err)
		}
		require.Equal(t, fp, fp2)
		op.S = "\xff\xfe" + op.S // not UTF-8: encoded as it is, like Marshal does
		_, data, fp, err = task.EncodeOp(op)
		if err != nil {
			t.Fatal(err)
		}
		want, err = task.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		require.Equal(t, want, []byte(data))
		_, fp2, err = task.OpFingerprint(op)
		if err != nil {
			t.Fatal(err)
		}
		require.Equal(t, fp, fp2)
	})
}

func benchJournal(b *testing.B, n int) (task.Journal, []byte) {
	j := make(task.Journal, n)
	for i := range j {
		var op any = effect.NowOp{}
		var res any = t0
		if i%2 == 1 {
			op, res = GetUser{ID: "user-7"}, User{Name: "Ann"}
		}
		j[i] = entry(b, uint64(i+1), 0, op, res, nil)
	}
	data, err := task.EncodeJournal(j)
	require.NoError(b, err)
	return j, data
}

func BenchmarkEncodeJournal(b *testing.B) {
	j, _ := benchJournal(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := task.EncodeJournal(j); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(j))/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkDecodeJournal(b *testing.B) {
	j, data := benchJournal(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := task.DecodeJournal(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(j))/b.Elapsed().Seconds(), "entries/s")
}

type flatMsg struct {
	ID    string
	Cents int
	Ok    bool `cbor:",omitempty"`
}

type nestedMsg struct {
	Items []string
}

type namedString string

type customMsg struct{ X int }

func (customMsg) MarshalCBOR() ([]byte, error) { return []byte{0x01}, nil }

// TestEncodeOpAnyFieldMatchesMarshal: an op with an interface field (a
// SendOp's message) is encoded by the fast path when the value is flat, and
// by the general encoder otherwise; either way the bytes are the general
// encoder's.
func TestEncodeOpAnyFieldMatchesMarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		msgs := []any{
			nil,
			rapid.String().Draw(t, "s"),
			rapid.Int().Draw(t, "i"),
			rapid.Bool().Draw(t, "b"),
			uint16(rapid.Uint16().Draw(t, "u")),
			namedString(rapid.String().Draw(t, "n")),
			flatMsg{ID: rapid.String().Draw(t, "id"), Cents: rapid.Int().Draw(t, "c"), Ok: rapid.Bool().Draw(t, "ok")},
			struct{}{},
			nestedMsg{Items: []string{"a"}},
			customMsg{X: 1},
			3.5,
		}
		op := effect.SendOp{To: rapid.String().Draw(t, "to"), Type: "t", Msg: rapid.SampledFrom(msgs).Draw(t, "msg")}
		_, data, fp, err := task.EncodeOp(op)
		if err != nil {
			t.Fatal(err)
		}
		want, err := task.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		require.Equal(t, want, []byte(data), "%#v", op.Msg)
		_, fp2, err := task.OpFingerprint(op)
		if err != nil {
			t.Fatal(err)
		}
		require.Equal(t, fp, fp2)
	})
}
