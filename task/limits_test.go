package task_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/amberrt/amber/internal/codec"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// Nest is a message that holds arrays nested to any depth.
type Nest []any

// nest returns a Nest that is depth levels deep (itself included).
func nest(depth int) Nest {
	var v any = 1
	for range depth - 1 {
		v = []any{v}
	}
	return Nest{v}
}

// TestNestingLimit: one limit for encode and decode. A message nested one
// level too deep is refused when it is put in its envelope, so that it can
// never reach a mailbox where its receiver could not read it; the deepest
// message allowed goes through every stored form that wraps it and comes
// back.
func TestNestingLimit(t *testing.T) {
	r := task.NewRegistry()
	require.NoError(t, task.RegisterMessage[Nest](r, "test.Nest"))

	_, err := r.EncodeMessage(nest(codec.MaxNesting + 1))
	require.ErrorIs(t, err, task.ErrUnstorable)
	require.ErrorContains(t, err, "test.Nest")
	require.ErrorContains(t, err, fmt.Sprintf("nested deeper than %d levels", codec.MaxNesting))
	_, err = task.Marshal(nest(codec.MaxNesting + 1))
	require.ErrorIs(t, err, task.ErrUnstorable)

	deepest := nest(codec.MaxNesting)
	env, err := r.EncodeMessage(deepest)
	require.NoError(t, err)
	stored, err := task.EncodeEnvelope(env)
	require.NoError(t, err)
	back, err := task.DecodeEnvelope(stored)
	require.NoError(t, err)
	m, err := r.DecodeMessage(back)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprint(deepest), fmt.Sprint(m))

	// The same value as a result, in an entry, in a journal, in a record.
	data, err := task.Marshal(deepest)
	require.NoError(t, err)
	e := task.Entry{Seq: 1, Kind: "k", Result: data}
	b, err := task.EncodeEntry(e)
	require.NoError(t, err)
	got, err := task.DecodeEntry(b)
	require.NoError(t, err)
	require.Equal(t, []byte(data), []byte(got.Result))
	rec := &task.Record{ID: "a", Program: "p", Status: task.Waiting, Input: data, Journal: task.Journal{e},
		Mailbox: []task.Envelope{env}}
	b, err = task.EncodeRecord(rec)
	require.NoError(t, err)
	rec2, err := task.DecodeRecord(b)
	require.NoError(t, err)
	require.Equal(t, []byte(data), []byte(rec2.Journal[0].Result))

	// An envelope made by hand around a value too deep is refused too.
	raw, err := codec.Enc.Marshal(nest(codec.MaxNesting + 1))
	require.NoError(t, err)
	_, err = task.EncodeEnvelope(task.Envelope{Type: "test.Nest", Data: raw})
	require.ErrorIs(t, err, task.ErrUnstorable)
}

// TestTooLong: an array over the decoder's limit is refused at encode.
func TestTooLong(t *testing.T) {
	_, err := task.Marshal(make([]bool, codec.MaxElements+1))
	require.ErrorIs(t, err, task.ErrUnstorable)
	_, err = task.Marshal(make([]bool, codec.MaxElements))
	require.NoError(t, err)
}

// TestChecksum: a byte flipped anywhere in the encoded form of an entry or
// a message, or in its checksum, is caught.
func TestChecksum(t *testing.T) {
	entry, err := task.EncodeEntry(sampleJournal(t)[2])
	require.NoError(t, err)
	env, err := task.EncodeEnvelope(sampleRecord(t).Mailbox[0])
	require.NoError(t, err)
	for name, data := range map[string][]byte{"entry": entry, "envelope": env} {
		sum := task.Checksum(data)
		require.NoError(t, task.VerifyChecksum(data, sum), name)
		for i := range data {
			for _, bit := range []byte{0x01, 0x80} {
				bad := append([]byte(nil), data...)
				bad[i] ^= bit
				err := task.VerifyChecksum(bad, sum)
				require.ErrorIs(t, err, task.ErrCorrupt, "%s: byte %d ^ %#x", name, i, bit)
			}
		}
		require.ErrorIs(t, task.VerifyChecksum(data, sum^1<<7), task.ErrCorrupt, name)
	}
}

func TestDecodeEnvelopeBad(t *testing.T) {
	good, err := task.EncodeEnvelope(task.Envelope{Type: "x", Data: marshal(t, 1)})
	require.NoError(t, err)
	for name, data := range map[string][]byte{
		"empty":      nil,
		"truncated":  good[:len(good)-1],
		"no type":    marshal(t, map[int]any{2: 1}),
		"no data":    marshal(t, map[int]any{1: "x"}),
		"trailing":   append(append([]byte(nil), good...), 0),
		"not a map":  marshal(t, []int{1, 2}),
		"bad tag":    {0xa2, 0x01, 0x61, 'x', 0x02, 0xc0, 0x01}, // tag 0 around a number
		"wrong type": marshal(t, map[int]any{1: 7, 2: 1}),
	} {
		_, err := task.DecodeEnvelope(data)
		require.ErrorIs(t, err, task.ErrCorrupt, name)
	}
	_, err = task.EncodeEnvelope(task.Envelope{Data: marshal(t, 1)})
	require.True(t, errors.Is(err, task.ErrUnstorable))
}
