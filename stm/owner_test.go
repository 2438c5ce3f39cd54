package stm_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amberrt/amber/stm"
)

func TestOwnerSeesReadsWritesAndStamps(t *testing.T) {
	var seen []*stm.Commit
	var during []int
	own := &prepareFunc{func(c *stm.Commit) error { seen = append(seen, c); return nil }}
	a := stm.NewOwned(own, "a", 1, 0)
	b := stm.NewOwned(own, "b", "x", 7)
	anon := stm.NewVar(0)
	assert.Equal(t, "a", a.Name())
	assert.Equal(t, "", anon.Name())

	_, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
		assert.Equal(t, uint64(7), b.Stamp(tx))
		assert.Zero(t, anon.Stamp(tx), "an anonymous var has no stamp")
		a.Set(tx, a.Get(tx)+len(b.Get(tx))+len(b.Get(tx)))
		anon.Set(tx, 1)
		return 0, nil
	})
	require.NoError(t, err)
	require.Len(t, seen, 1)
	c := seen[0]
	require.Len(t, c.Writes, 1, "only owned vars")
	assert.Same(t, a, c.Writes[0].Var)
	assert.Equal(t, 3, c.Writes[0].Value)
	assert.Equal(t, uint64(0), c.Writes[0].Prev)
	assert.Equal(t, uint64(1), c.Writes[0].Stamp)
	require.Len(t, c.Reads, 1, "a var read several times, once; a written var is not a read")
	assert.Same(t, b, c.Reads[0].Var)
	assert.Equal(t, uint64(7), c.Reads[0].Stamp)

	// SetStamped publishes the given stamp; Published runs once the value
	// is visible.
	own.f = func(c *stm.Commit) error {
		c.Published = func() { during = append(during, a.Load()) }
		return nil
	}
	_, err = stm.Atomically(func(tx *stm.Tx) (int, error) { a.SetStamped(tx, 10, 42); return 0, nil })
	require.NoError(t, err)
	assert.Equal(t, []int{10}, during)
	stamp, err := stm.Atomically(func(tx *stm.Tx) (uint64, error) { return a.Stamp(tx), nil })
	require.NoError(t, err)
	assert.Equal(t, uint64(42), stamp)
	a.Store(11)
	stamp, _ = stm.Atomically(func(tx *stm.Tx) (uint64, error) { return a.Stamp(tx), nil })
	assert.Equal(t, uint64(43), stamp, "a plain write counts on from the stamp")

	assert.Panics(t, func() { stm.NewOwned(uncomparable{}, "u", 0, 0) })
}

type uncomparable struct{ _ []int }

func (uncomparable) Prepare(*stm.Commit) error { return nil }

func TestOwnerConflictAndHandoff(t *testing.T) {
	refresh := errors.New("store gone")
	var runs int
	var answers []error
	own := &prepareFunc{func(*stm.Commit) error {
		if len(answers) == 0 {
			return nil
		}
		a := answers[0]
		answers = answers[1:]
		return a
	}}
	x := stm.NewOwned(own, "x", 0, 0)
	other := stm.NewVar(0)
	inc := func(tx *stm.Tx) (int, error) {
		runs++
		return stm.Modify(tx, x, func(n int) int { return n + 1 }), nil
	}

	// A Conflict reruns the transaction after its Refresh, which may run
	// transactions.
	answers = []error{&stm.Conflict{Err: errors.New("stale"), Refresh: func() error { other.Store(5); return nil }}}
	n, err := stm.Atomically(inc)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 2, runs)
	assert.Equal(t, 5, other.Load())

	// The same in Attempt, and a wrapped Conflict counts.
	runs = 0
	answers = []error{errors.Join(errors.New("context"), &stm.Conflict{Err: errors.New("stale")})}
	n, wait, err := stm.Attempt(inc)
	require.NoError(t, err)
	assert.Nil(t, wait)
	assert.Equal(t, 2, n)
	assert.Equal(t, 2, runs)

	// A failing Refresh fails the transaction.
	answers = []error{&stm.Conflict{Err: errors.New("stale"), Refresh: func() error { return refresh }}}
	_, err = stm.Atomically(inc)
	assert.ErrorIs(t, err, refresh)
	assert.Equal(t, 2, x.Load())

	// A Handoff returns the result as committed, without a rerun; what the
	// var shows is up to Refresh.
	runs = 0
	answers = []error{&stm.Handoff{Refresh: func() error {
		_, err := stm.Atomically(func(tx *stm.Tx) (int, error) { x.SetStamped(tx, 3, 9); return 0, nil })
		return err
	}}}
	n, err = stm.Atomically(inc)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, 1, runs)
	assert.Equal(t, 3, x.Load())
	answers = []error{&stm.Handoff{Refresh: func() error { return refresh }}}
	_, err = stm.Atomically(inc)
	assert.ErrorIs(t, err, refresh)

	// Any other error fails the transaction as is.
	boom := errors.New("boom")
	answers = []error{boom}
	_, err = stm.Atomically(inc)
	assert.Equal(t, boom, err)
	assert.Equal(t, 3, x.Load())
}
