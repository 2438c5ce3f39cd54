package world_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
)

type account struct {
	Owner   string
	Balance int
	Tags    []string
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// snapshot builds a snapshot by hand: name -> [version, value].
func snapshot(t *testing.T, m map[string][2]any) []byte {
	t.Helper()
	b, err := cbor.Marshal(m)
	require.NoError(t, err)
	return b
}

func enc(t *testing.T, x any) []byte {
	t.Helper()
	b, err := cbor.Marshal(x)
	require.NoError(t, err)
	return b
}

// hookFunc records the commits it sees and answers with answer (nil:
// accept).
type hookLog struct {
	commits []world.Commit
	answer  func(c *world.Commit) error
}

func (h *hookLog) hook(c *world.Commit) error {
	h.commits = append(h.commits, *c)
	if h.answer == nil {
		return nil
	}
	return h.answer(c)
}

func TestNamed(t *testing.T) {
	w := world.New()
	a := world.Named(w, "a", 1)
	assert.Same(t, a, world.Named(w, "a", 99), "Named is get-or-create")
	assert.Equal(t, 1, a.Load(), "an existing var keeps its value")
	assert.Equal(t, "a", a.Name())

	_, err := world.NamedE(w, "a", "not an int")
	assert.ErrorIs(t, err, world.ErrTypeMismatch)
	assert.Panics(t, func() { world.Named(w, "a", 1.5) })

	_, err = world.NamedE(w, "ch", make(chan int))
	assert.Error(t, err, "a type CBOR cannot encode is refused up front")

	world.Named(w, "b", account{})
	assert.Equal(t, []string{"a", "b"}, w.Names())
	av, ok := w.Lookup("b")
	require.True(t, ok)
	assert.Equal(t, "b", av.Name())
	av, ok = w.Lookup("a")
	require.True(t, ok)
	assert.Same(t, a, av)
	_, ok = w.Lookup("nope")
	assert.False(t, ok)
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	fill := func(w *world.World) (*stm.Var[int], *stm.Var[account], *stm.Var[map[string]int]) {
		n := world.Named(w, "n", 0)
		acct := world.Named(w, "acct", account{})
		m := world.Named(w, "m", map[string]int{})
		_, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
			n.Set(tx, 42)
			acct.Set(tx, account{"ann", 10, []string{"vip"}})
			m.Set(tx, map[string]int{"z": 1, "a": 2})
			return 0, nil
		})
		require.NoError(t, err)
		return n, acct, m
	}
	w := world.New()
	fill(w)
	n := world.Named(w, "n", 0)
	n.Store(43) // version 2
	snap, err := w.Snapshot()
	require.NoError(t, err)

	// The same state, declared in another order: the same bytes.
	w2 := world.New()
	world.Named(w2, "m", map[string]int(nil))
	fill(w2)
	world.Named(w2, "n", 0).Store(43)
	snap2, err := w2.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, snap, snap2, "snapshots are deterministic")

	// Restore into a world where some vars are declared before the restore
	// and some after.
	w3 := world.New()
	n3 := world.Named(w3, "n", -1)
	other := world.Named(w3, "other", "kept")
	require.NoError(t, w3.Restore(snap))
	assert.Equal(t, 43, n3.Load())
	assert.Equal(t, "kept", other.Load(), "vars absent from the snapshot keep their values")
	acct3 := world.Named(w3, "acct", account{})
	assert.Equal(t, account{"ann", 10, []string{"vip"}}, acct3.Load(), "a var declared after Restore gets the restored value")
	_, err = world.NamedE(w3, "m", "wrong type")
	assert.ErrorIs(t, err, world.ErrTypeMismatch)
	m3 := world.Named(w3, "m", map[string]int(nil))
	assert.Equal(t, map[string]int{"a": 2, "z": 1}, m3.Load())
	world.Named(w3, "other", "").Store("x")
	snap3, err := w3.Snapshot()
	require.NoError(t, err)
	w4 := world.New()
	require.NoError(t, w4.Restore(snap3))
	snap4, err := w4.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, snap3, snap4, "versions survive a round trip")

	// A snapshot is applied by version: an older one changes nothing.
	require.NoError(t, w3.Restore(snapshot(t, map[string][2]any{"n": {1, 7}, "other": {0, "zero"}})))
	assert.Equal(t, 43, n3.Load(), "version 1 does not replace version 2")
	assert.Equal(t, "x", other.Load())
	require.NoError(t, w3.Restore(snapshot(t, map[string][2]any{"n": {3, 7}})))
	assert.Equal(t, 7, n3.Load())
}

func TestRestoreIsAllOrNothing(t *testing.T) {
	w := world.New()
	a := world.Named(w, "a", 1)
	b := world.Named(w, "b", "x")
	bad := snapshot(t, map[string][2]any{"a": {1, 2}, "b": {1, 3}}) // b is not a string
	assert.ErrorIs(t, w.Restore(bad), world.ErrTypeMismatch)
	assert.Equal(t, 1, a.Load())
	assert.Equal(t, "x", b.Load())

	for _, corrupt := range [][]byte{
		nil, {0xff}, {0xa1, 0x61}, {0x01},
		{0xa1, 0x61, 'a', 0x01},                                          // a value without a version
		{0xa1, 0x61, 'a', 0x82, 0x20, 0x01},                              // a negative version
		{0xa1, 0x61, 'a', 0x83, 0x01, 0x01, 0x01},                        // a third element
		{0xa2, 0x61, 'a', 0x82, 0x01, 0x01, 0x61, 'a', 0x82, 0x01, 0x02}, // a name twice
	} {
		assert.Error(t, w.Restore(corrupt), "%x", corrupt)
	}
	assert.Equal(t, 1, a.Load())
	assert.Equal(t, "x", b.Load())
}

func TestRestoreWakesWaiters(t *testing.T) {
	w := world.New()
	x := world.Named(w, "x", 0)
	_, wait, err := stm.Attempt(waitUntilPositive(x))
	require.NoError(t, err)
	require.NotNil(t, wait)
	defer wait.Cancel()
	require.NoError(t, w.Restore(snapshot(t, map[string][2]any{"x": {1, 3}})))
	assert.True(t, isClosed(wait.Done()))
}

// waitUntilPositive retries until v > 0.
func waitUntilPositive(v *stm.Var[int]) func(tx *stm.Tx) (int, error) {
	return func(tx *stm.Tx) (int, error) {
		n := v.Get(tx)
		if n <= 0 {
			tx.Retry()
		}
		return n, nil
	}
}

func TestCommitHook(t *testing.T) {
	w := world.New()
	a := world.Named(w, "a", 0)
	b := world.Named(w, "b", "")
	c := world.Named(w, "c", 7)
	anon := stm.NewVar(0)

	var seenDuringHook int
	h := &hookLog{}
	w.OnCommit(func(cm *world.Commit) error {
		seenDuringHook = a.Load()
		return h.hook(cm)
	})

	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "step 7")
	_, err := stm.AtomicallyContext(ctx, func(tx *stm.Tx) (int, error) {
		b.Set(tx, "hi")
		a.Set(tx, 5+c.Get(tx)+c.Get(tx))
		anon.Set(tx, 1)
		return 0, nil
	})
	require.NoError(t, err)
	require.Len(t, h.commits, 1)
	cm := h.commits[0]
	assert.Equal(t, "step 7", cm.Context.Value(key{}))
	require.Len(t, cm.Writes, 2, "only world vars are reported")
	assert.Equal(t, "a", cm.Writes[0].Name, "writes are in name order")
	assert.Equal(t, "b", cm.Writes[1].Name)
	assert.Equal(t, uint64(0), cm.Writes[0].Prev, "the initial value has version 0")
	assert.Equal(t, enc(t, 19), cm.Writes[0].Value)
	assert.Equal(t, []world.Read{{Name: "c", Version: 0}}, cm.Reads, "a var read twice is reported once")
	assert.Equal(t, 0, seenDuringHook, "the commit is not visible while its hook runs")

	// Versions count the writes.
	a.Store(6)
	require.Len(t, h.commits, 2)
	assert.Equal(t, uint64(1), h.commits[1].Writes[0].Prev)
	assert.Empty(t, h.commits[1].Reads)

	// Read-only and anonymous-only transactions do not call the hook.
	_, _ = stm.Atomically(func(tx *stm.Tx) (int, error) { anon.Set(tx, a.Get(tx)); return 0, nil })
	assert.Len(t, h.commits, 2)

	// A failing hook aborts the commit: nothing is published, no version
	// is spent.
	fail := errors.New("disk full")
	h.answer = func(*world.Commit) error { return fail }
	_, wait, err := stm.Attempt(func(tx *stm.Tx) (int, error) {
		if a.Get(tx) < 100 {
			tx.Retry()
		}
		return 0, nil
	})
	require.NoError(t, err)
	require.NotNil(t, wait)
	defer wait.Cancel()
	_, err = stm.Atomically(func(tx *stm.Tx) (int, error) { a.Set(tx, 600); anon.Set(tx, 600); return 0, nil })
	assert.ErrorIs(t, err, fail)
	assert.Equal(t, 6, a.Load())
	assert.Equal(t, 6, anon.Load())
	assert.False(t, isClosed(wait.Done()), "a refused commit wakes nobody")
	assert.Panics(t, func() { a.Store(7) }, "Store panics when the hook rejects the write")
	assert.Equal(t, 6, a.Load())
	h.answer = nil
	a.Store(8)
	assert.Equal(t, uint64(2), h.commits[len(h.commits)-1].Writes[0].Prev, "refused commits spent no version")

	// Transactions cannot start from a hook.
	var nested, snapErr error
	w.OnCommit(func(*world.Commit) error {
		_, nested = stm.Atomically(func(tx *stm.Tx) (int, error) { return 0, nil })
		_, snapErr = w.Snapshot()
		return nil
	})
	a.Store(9)
	assert.ErrorIs(t, nested, stm.ErrNested)
	assert.ErrorIs(t, snapErr, stm.ErrNested)
	assert.Equal(t, 9, a.Load())
	w.OnCommit(nil)
}

func TestRefresh(t *testing.T) {
	w := world.New()
	x := world.Named(w, "x", 0)
	x.Store(1) // version 1
	require.NoError(t, w.Refresh(5, []world.Value{
		{Name: "x", Value: enc(t, 10), Version: 1}, // not newer
		{Name: "later", Value: enc(t, "old"), Version: 2},
		{Name: "later", Value: enc(t, "new"), Version: 3}, // the newest of a name counts
		{Name: "zero", Value: enc(t, "z"), Version: 0},    // version 0 replaces nothing
	}))
	assert.Equal(t, 1, x.Load())
	assert.Equal(t, uint64(5), w.Synced())
	require.NoError(t, w.Refresh(3, []world.Value{{Name: "later", Value: enc(t, "older"), Version: 2}}))
	assert.Equal(t, uint64(5), w.Synced(), "Synced never goes back")

	later := world.Named(w, "later", "")
	assert.Equal(t, "new", later.Load())
	assert.Equal(t, "", world.Named(w, "zero", "").Load())

	h := &hookLog{}
	w.OnCommit(h.hook)
	require.NoError(t, w.Refresh(6, []world.Value{{Name: "x", Value: enc(t, 10), Version: 4}}))
	assert.Equal(t, 10, x.Load())
	assert.Empty(t, h.commits, "Refresh does not call the hook")
	later.Store("newer")
	x.Store(11)
	require.Len(t, h.commits, 2)
	assert.Equal(t, uint64(3), h.commits[0].Writes[0].Prev, "a var declared from a kept value has its version")
	assert.Equal(t, uint64(4), h.commits[1].Writes[0].Prev, "a refreshed var has the store's version")

	// All or nothing.
	err := w.Refresh(9, []world.Value{
		{Name: "x", Value: enc(t, 20), Version: 9},
		{Name: "later", Value: enc(t, 1), Version: 9},
	})
	assert.ErrorIs(t, err, world.ErrTypeMismatch)
	assert.Equal(t, 11, x.Load())
	assert.Equal(t, uint64(6), w.Synced())
	assert.Error(t, w.Refresh(9, []world.Value{{Name: "new", Value: []byte{0xff}, Version: 1}}))
}

func TestRetryWokenByRefresh(t *testing.T) {
	w := world.New()
	x := world.Named(w, "x", 0)
	y := world.Named(w, "y", 0)
	_, wait, err := stm.Attempt(waitUntilPositive(x))
	require.NoError(t, err)
	require.NotNil(t, wait)
	defer wait.Cancel()

	require.NoError(t, w.Refresh(1, []world.Value{{Name: "y", Value: enc(t, 1), Version: 1}}))
	assert.False(t, isClosed(wait.Done()), "woken by a var it did not read")
	require.NoError(t, w.Refresh(2, []world.Value{{Name: "x", Value: enc(t, 0), Version: 0}}))
	assert.False(t, isClosed(wait.Done()), "woken by a value that was not newer")
	require.NoError(t, w.Refresh(3, []world.Value{{Name: "x", Value: enc(t, 2), Version: 1}}))
	assert.True(t, isClosed(wait.Done()))

	// A transaction blocked in Retry completes once a refresh brings what
	// it waits for.
	done := make(chan int)
	go func() {
		n, _ := stm.Atomically(func(tx *stm.Tx) (int, error) {
			if y.Get(tx) < 5 {
				tx.Retry()
			}
			return y.Get(tx), nil
		})
		done <- n
	}()
	require.NoError(t, w.Refresh(4, []world.Value{{Name: "y", Value: enc(t, 5), Version: 2}}))
	assert.Equal(t, 5, <-done)
}

// staleOnce refuses the first commit it sees with fresh, then accepts.
func staleOnce(fresh ...world.Value) func(*world.Commit) error {
	refused := false
	return func(*world.Commit) error {
		if refused {
			return nil
		}
		refused = true
		return &world.StaleError{Clock: 7, Fresh: fresh}
	}
}

func TestStaleCommitRerunsOnFreshValues(t *testing.T) {
	for _, attempt := range []bool{false, true} {
		w := world.New()
		x := world.Named(w, "x", 1)
		y := world.Named(w, "y", 0)
		h := &hookLog{answer: staleOnce(world.Value{Name: "x", Value: enc(t, 100), Version: 5})}
		var loads []int
		w.OnCommit(func(c *world.Commit) error {
			loads = append(loads, x.Load(), y.Load())
			return h.hook(c)
		})
		var runs int
		inc := func(tx *stm.Tx) (int, error) {
			runs++
			n := x.Get(tx) + 1
			y.Set(tx, n)
			return n, nil
		}
		var n int
		var err error
		if attempt {
			var wait *stm.Wait
			n, wait, err = stm.Attempt(inc)
			assert.Nil(t, wait)
		} else {
			n, err = stm.Atomically(inc)
		}
		require.NoError(t, err)
		assert.Equal(t, 101, n, "the rerun read the fresh value")
		assert.Equal(t, 2, runs)
		assert.Equal(t, []int{1, 0, 100, 0}, loads, "the refused write was never visible; the fresh value was before the rerun")
		assert.Equal(t, 101, y.Load())
		require.Len(t, h.commits, 2)
		assert.Equal(t, []world.Read{{Name: "x", Version: 0}}, h.commits[0].Reads)
		assert.Equal(t, []world.Read{{Name: "x", Version: 5}}, h.commits[1].Reads)
		assert.Equal(t, uint64(7), w.Synced())
	}
}

func TestStaleWithoutNewerValueFails(t *testing.T) {
	w := world.New()
	x := world.Named(w, "x", 1)
	w.OnCommit(func(*world.Commit) error {
		return &world.StaleError{Fresh: []world.Value{{Name: "x", Value: enc(t, 5), Version: 0}, {Name: "other", Value: enc(t, 5), Version: 9}}}
	})
	_, err := stm.Atomically(func(tx *stm.Tx) (int, error) { x.Set(tx, x.Get(tx)+1); return 0, nil })
	assert.ErrorIs(t, err, world.ErrStale)
	assert.Equal(t, 1, x.Load())
}

func TestLanded(t *testing.T) {
	w := world.New()
	x := world.Named(w, "x", 0)
	y := world.Named(w, "y", 0)
	require.NoError(t, w.Refresh(10, nil))

	// Right after the World's cut: published as usual.
	var published []bool
	w.OnCommit(func(c *world.Commit) error {
		published = append(published, false)
		c.Landed(c.Synced+1, nil)
		return nil
	})
	x.Store(1)
	assert.Equal(t, uint64(11), w.Synced())
	assert.Equal(t, 1, x.Load())
	assert.Len(t, published, 1)

	// Another commit landed in between: the World shows it and this one
	// at once.
	var during []int
	w.OnCommit(func(c *world.Commit) error {
		assert.Equal(t, uint64(11), c.Synced)
		c.Landed(13, []world.Value{{Name: "y", Value: enc(t, 50), Version: 1}})
		return nil
	})
	_, wait, err := stm.Attempt(waitUntilPositive(y))
	require.NoError(t, err)
	require.NotNil(t, wait)
	defer wait.Cancel()
	n, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
		x.Set(tx, x.Get(tx)+1)
		during = append(during, y.Get(tx))
		return x.Get(tx), nil
	})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, []int{0}, during, "the transaction ran once")
	assert.Equal(t, 2, x.Load())
	assert.Equal(t, 50, y.Load())
	assert.Equal(t, uint64(13), w.Synced())
	assert.True(t, isClosed(wait.Done()), "the values it missed wake waiters")

	h := &hookLog{}
	w.OnCommit(h.hook)
	x.Store(3)
	assert.Equal(t, uint64(2), h.commits[0].Writes[0].Prev, "a handed-off write has its version")

	// A cut read after the commit holds the commit's own values: they do
	// not count as others'.
	w.OnCommit(func(c *world.Commit) error {
		c.Landed(c.Synced+1, []world.Value{{Name: "x", Value: c.Writes[0].Value, Version: c.Writes[0].Prev + 1}})
		return nil
	})
	x.Store(4)
	assert.Equal(t, uint64(14), w.Synced())
	assert.Equal(t, 4, x.Load())
}

func FuzzWorldRestore(f *testing.F) {
	newWorld := func() *world.World {
		w := world.New()
		world.Named(w, "n", 0)
		world.Named(w, "s", "")
		world.Named(w, "acct", account{})
		world.Named(w, "m", map[string]int(nil))
		world.Named(w, "xs", []int(nil))
		return w
	}
	w := newWorld()
	empty, _ := w.Snapshot()
	f.Add(empty)
	world.Named(w, "n", 0).Store(7)
	world.Named(w, "acct", account{}).Store(account{"bo", -3, []string{"a", "b"}})
	world.Named(w, "m", map[string]int(nil)).Store(map[string]int{"k": 1})
	world.Named(w, "undeclared-elsewhere", 1.5).Store(2.5)
	full, _ := w.Snapshot()
	f.Add(full)
	f.Add([]byte{0xa0})
	f.Add([]byte{0xbf, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		w := newWorld()
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
		w2 := newWorld()
		require.NoError(t, w2.Restore(s1))
		s2, err := w2.Snapshot()
		require.NoError(t, err)
		assert.Equal(t, s1, s2)
	})
}
