package stm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amberrt/amber/stm"
)

type account struct {
	Owner   string
	Balance int
	Tags    []string
}

func TestNamed(t *testing.T) {
	w := stm.NewWorld()
	a := stm.Named(w, "a", 1)
	assert.Same(t, a, stm.Named(w, "a", 99), "Named is get-or-create")
	assert.Equal(t, 1, a.Load(), "an existing var keeps its value")
	assert.Equal(t, "a", a.Name())
	assert.Same(t, w, a.World())

	_, err := stm.NamedE(w, "a", "not an int")
	assert.ErrorIs(t, err, stm.ErrTypeMismatch)
	assert.Panics(t, func() { stm.Named(w, "a", 1.5) })

	_, err = stm.NamedE(w, "ch", make(chan int))
	assert.Error(t, err, "a type CBOR cannot encode is refused up front")

	stm.Named(w, "b", account{})
	assert.Equal(t, []string{"a", "b"}, w.Names())
	av, ok := w.Lookup("b")
	require.True(t, ok)
	assert.Equal(t, "b", av.Name())
	_, ok = w.Lookup("nope")
	assert.False(t, ok)
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	w := stm.NewWorld()
	n := stm.Named(w, "n", 0)
	acct := stm.Named(w, "acct", account{})
	m := stm.Named(w, "m", map[string]int{})
	_, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
		n.Set(tx, 42)
		acct.Set(tx, account{"ann", 10, []string{"vip"}})
		m.Set(tx, map[string]int{"z": 1, "a": 2})
		return 0, nil
	})
	require.NoError(t, err)
	snap, err := w.Snapshot()
	require.NoError(t, err)

	// Same state, declared in another order: the same bytes.
	w2 := stm.NewWorld()
	stm.Named(w2, "m", map[string]int{"a": 2, "z": 1})
	stm.Named(w2, "acct", account{"ann", 10, []string{"vip"}})
	stm.Named(w2, "n", 42)
	snap2, err := w2.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, snap, snap2, "snapshots are deterministic")

	// Restore into a world where some vars are declared before the restore
	// and some after.
	w3 := stm.NewWorld()
	n3 := stm.Named(w3, "n", -1)
	other := stm.Named(w3, "other", "kept")
	require.NoError(t, w3.Restore(snap))
	assert.Equal(t, 42, n3.Load())
	assert.Equal(t, "kept", other.Load(), "vars absent from the snapshot keep their values")
	acct3 := stm.Named(w3, "acct", account{})
	assert.Equal(t, account{"ann", 10, []string{"vip"}}, acct3.Load(), "a var declared after Restore gets the restored value")
	_, err = stm.NamedE(w3, "m", "wrong type")
	assert.ErrorIs(t, err, stm.ErrTypeMismatch)
	m3 := stm.Named(w3, "m", map[string]int(nil))
	assert.Equal(t, map[string]int{"a": 2, "z": 1}, m3.Load())
}

func TestRestoreIsAllOrNothing(t *testing.T) {
	w := stm.NewWorld()
	a := stm.Named(w, "a", 1)
	b := stm.Named(w, "b", "x")
	bad, err := cbor.Marshal(map[string]any{"a": 2, "b": 3}) // b is not a string
	require.NoError(t, err)
	assert.ErrorIs(t, w.Restore(bad), stm.ErrTypeMismatch)
	assert.Equal(t, 1, a.Load())
	assert.Equal(t, "x", b.Load())

	for _, corrupt := range [][]byte{nil, {0xff}, {0xa1, 0x61}, {0x01}, {0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02}} {
		assert.Error(t, w.Restore(corrupt), "%x", corrupt)
	}
	assert.Equal(t, 1, a.Load())
}

func TestRestoreWakesWaiters(t *testing.T) {
	w := stm.NewWorld()
	x := stm.Named(w, "x", 0)
	_, wait, err := stm.Attempt(waitUntilPositive(x))
	require.NoError(t, err)
	require.NotNil(t, wait)
	defer wait.Cancel()
	snap, err := cbor.Marshal(map[string]int{"x": 3})
	require.NoError(t, err)
	require.NoError(t, w.Restore(snap))
	assert.True(t, isClosed(wait.Done()))
}

func TestCommitHook(t *testing.T) {
	w := stm.NewWorld()
	a := stm.Named(w, "a", 0)
	b := stm.Named(w, "b", "")
	anon := stm.NewVar(0)

	var commits []stm.Commit
	var seenDuringHook int
	fail := error(nil)
	w.OnCommit(func(c stm.Commit) error {
		seenDuringHook = a.Load()
		commits = append(commits, c)
		return fail
	})

	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "step 7")
	_, err := stm.AtomicallyContext(ctx, func(tx *stm.Tx) (int, error) {
		b.Set(tx, "hi")
		a.Set(tx, 5)
		anon.Set(tx, 1)
		return 0, nil
	})
	require.NoError(t, err)
	require.Len(t, commits, 1)
	c := commits[0]
	assert.Equal(t, "step 7", c.Context.Value(key{}))
	assert.NotZero(t, c.Version)
	require.Len(t, c.Writes, 2, "only world vars are reported")
	assert.Equal(t, "a", c.Writes[0].Name, "writes are in name order")
	assert.Equal(t, "b", c.Writes[1].Name)
	var got int
	require.NoError(t, cbor.Unmarshal(c.Writes[0].Value, &got))
	assert.Equal(t, 5, got)
	assert.Equal(t, 0, seenDuringHook, "the commit is not visible while its hook runs")

	// Read-only and anonymous-only transactions do not call the hook.
	_, _ = stm.Atomically(func(tx *stm.Tx) (int, error) { anon.Set(tx, a.Get(tx)); return 0, nil })
	assert.Len(t, commits, 1)

	// A failing hook aborts the commit.
	fail = errors.New("disk full")
	_, err = stm.Atomically(func(tx *stm.Tx) (int, error) { a.Set(tx, 6); anon.Set(tx, 6); return 0, nil })
	assert.ErrorIs(t, err, fail)
	assert.Equal(t, 5, a.Load())
	assert.Equal(t, 5, anon.Load())
	assert.Panics(t, func() { a.Store(7) }, "Store panics when the hook rejects the write")
	assert.Equal(t, 5, a.Load())

	// Transactions cannot start from a hook.
	fail = nil
	var nested, snapErr error
	w.OnCommit(func(stm.Commit) error {
		_, nested = stm.Atomically(func(tx *stm.Tx) (int, error) { return 0, nil })
		_, snapErr = w.Snapshot()
		return nil
	})
	a.Store(8)
	assert.ErrorIs(t, nested, stm.ErrNested)
	assert.ErrorIs(t, snapErr, stm.ErrNested)
	assert.Equal(t, 8, a.Load())
	w.OnCommit(nil)
}

func FuzzWorldRestore(f *testing.F) {
	newWorld := func() (*stm.World, error) {
		w := stm.NewWorld()
		stm.Named(w, "n", 0)
		stm.Named(w, "s", "")
		stm.Named(w, "acct", account{})
		stm.Named(w, "m", map[string]int(nil))
		stm.Named(w, "xs", []int(nil))
		return w, nil
	}
	w, _ := newWorld()
	empty, _ := w.Snapshot()
	f.Add(empty)
	stm.Named(w, "n", 0).Store(7)
	stm.Named(w, "acct", account{}).Store(account{"bo", -3, []string{"a", "b"}})
	stm.Named(w, "m", map[string]int(nil)).Store(map[string]int{"k": 1})
	stm.Named(w, "undeclared-elsewhere", 1.5)
	full, _ := w.Snapshot()
	f.Add(full)
	f.Add([]byte{0xa0})
	f.Add([]byte{0xbf, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, _ := newWorld()
		before, err := w.Snapshot()
		require.NoError(t, err)
		if err := w.Restore(b); err != nil {
			after, err2 := w.Snapshot()
			require.NoError(t, err2)
			assert.Equal(t, before, after, "a failed Restore changed the world")
			return
		}
		// A restored world snapshots and restores to itself.
		s1, err := w.Snapshot()
		require.NoError(t, err)
		w2, _ := newWorld()
		require.NoError(t, w2.Restore(s1))
		s2, err := w2.Snapshot()
		require.NoError(t, err)
		assert.Equal(t, s1, s2)
	})
}
