package task_test

import (
	"testing"

	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// FuzzDecodeTask: no input makes DecodeRecord panic, and whatever it accepts
// survives another trip through the codec unchanged.
func FuzzDecodeTask(f *testing.F) {
	good, err := task.EncodeRecord(sampleRecord(f))
	require.NoError(f, err)
	minimal, err := task.EncodeRecord(&task.Record{ID: "a", Program: "p", Status: task.Done, Result: marshal(f, 1)})
	require.NoError(f, err)
	f.Add(good)
	f.Add(minimal)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x00, 0x01})

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := task.DecodeRecord(data)
		if err != nil {
			require.Nil(t, r)
			return
		}
		b, err := task.EncodeRecord(r)
		require.NoError(t, err, "a decoded record must encode")
		r2, err := task.DecodeRecord(b)
		require.NoError(t, err, "a re-encoded record must decode")
		require.Equal(t, r, r2)
		b2, err := task.EncodeRecord(r2)
		require.NoError(t, err)
		require.Equal(t, b, b2, "encoding is deterministic")
		_ = r.Journal.String()
	})
}

// FuzzDecodeJournal is FuzzDecodeTask for journals.
func FuzzDecodeJournal(f *testing.F) {
	good, err := task.EncodeJournal(sampleJournal(f))
	require.NoError(f, err)
	empty, err := task.EncodeJournal(nil)
	require.NoError(f, err)
	f.Add(good)
	f.Add(empty)
	f.Add(good[:len(good)-1])
	f.Add([]byte{0xa2, 0x00, 0x01, 0x01, 0x80})

	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := task.DecodeJournal(data)
		if err != nil {
			require.Nil(t, j)
			return
		}
		b, err := task.EncodeJournal(j)
		require.NoError(t, err, "a decoded journal must encode")
		j2, err := task.DecodeJournal(b)
		require.NoError(t, err, "a re-encoded journal must decode")
		require.Equal(t, j, j2)
		for _, e := range j {
			_ = e.String()
		}
	})
}

// FuzzDecodeSignal: no input makes DecodeSignal or DecodeError (with the
// fields of a registered error type) panic; an accepted signal survives a
// trip through its envelope unchanged.
func FuzzDecodeSignal(f *testing.F) {
	for _, s := range []task.Signal{
		{Kind: task.SignalLink, From: "a", Reason: "boom"},
		{Kind: task.SignalDown, From: "b", Reason: "noproc", Ref: "w#3"},
		{Kind: task.SignalKill, From: "c", Reason: "kill"},
	} {
		env, err := s.Envelope()
		require.NoError(f, err)
		f.Add([]byte(env.Data))
	}
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x01, 0x09})
	reg := task.NewRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range []string{"effect.ExitError", "effect.PanicError"} {
			err := reg.DecodeError(&task.Error{Type: typ, Msg: "m", Data: data})
			require.EqualError(t, err, "m", "the message is the stored one, whatever the data")
		}
		s, err := task.DecodeSignal(data)
		if err != nil {
			require.ErrorIs(t, err, task.ErrCorrupt)
			return
		}
		env, err := s.Envelope()
		require.NoError(t, err)
		s2, err := task.DecodeSignal(env.Data)
		require.NoError(t, err)
		require.Equal(t, s, s2)
	})
}

// FuzzDecodeEnvelope: no input makes DecodeEnvelope panic, and whatever it
// accepts encodes back to an envelope that decodes to the same.
func FuzzDecodeEnvelope(f *testing.F) {
	env, err := registry(f).EncodeMessage(Order{ID: "o1", Cents: 500, At: t0})
	require.NoError(f, err)
	good, err := task.EncodeEnvelope(env)
	require.NoError(f, err)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte{0xa2, 0x01, 0x61, 'x', 0x02, 0x01})

	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := task.DecodeEnvelope(data)
		if err != nil {
			require.ErrorIs(t, err, task.ErrCorrupt)
			return
		}
		b, err := task.EncodeEnvelope(e)
		if err != nil {
			// Accepted by the stored form's decoder, but deeper than a
			// message may be: refused at encode, never stored.
			require.ErrorIs(t, err, task.ErrUnstorable)
			return
		}
		e2, err := task.DecodeEnvelope(b)
		require.NoError(t, err)
		require.Equal(t, e, e2)
		_ = e.String()
	})
}
