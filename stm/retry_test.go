package stm_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amberrt/amber/stm"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
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

func TestAttemptWaitWakesOnlyForReadVars(t *testing.T) {
	x, unrelated := stm.NewVar(0), stm.NewVar(0)
	n, wait, err := stm.Attempt(waitUntilPositive(x))
	require.NoError(t, err)
	require.NotNil(t, wait, "a retried attempt returns a Wait")
	assert.Zero(t, n)
	defer wait.Cancel()

	// Commits wake waiters before they return, so these checks need no
	// timing: a wrong wake-up would already be visible.
	unrelated.Store(1)
	_, err = stm.Atomically(func(tx *stm.Tx) (int, error) { unrelated.Set(tx, 2); return 0, nil })
	require.NoError(t, err)
	assert.False(t, isClosed(wait.Done()), "woken by a write to a var it did not read")

	_, _ = stm.Atomically(func(tx *stm.Tx) (int, error) { return 0, errors.New("rolled back") })
	x.Store(-1) // a change, even if the condition still fails, wakes it
	assert.True(t, isClosed(wait.Done()), "not woken by a write to a var it read")

	n, wait2, err := stm.Attempt(waitUntilPositive(x))
	require.NoError(t, err)
	require.NotNil(t, wait2)
	wait2.Cancel()
	x.Store(5)
	assert.False(t, isClosed(wait2.Done()), "a cancelled Wait is not woken")

	n, wait3, err := stm.Attempt(waitUntilPositive(x))
	require.NoError(t, err)
	assert.Nil(t, wait3)
	assert.Equal(t, 5, n)
}

func TestAttemptWaitIsClosedIfChangedBeforeWaiting(t *testing.T) {
	// The var changes between the read and the creation of the Wait: the
	// Wait must come back already closed.
	x := stm.NewVar(0)
	done := make(chan struct{})
	_, wait, err := stm.Attempt(func(tx *stm.Tx) (int, error) {
		if x.Get(tx) == 0 {
			go func() { x.Store(1); close(done) }()
			<-done // the commit happens while this attempt runs
			tx.Retry()
		}
		return 0, nil
	})
	require.NoError(t, err)
	require.NotNil(t, wait)
	defer wait.Cancel()
	assert.True(t, isClosed(wait.Done()), "a change made before the Wait existed was lost")
}

func TestAtomicallyBlocksUntilReadVarChanges(t *testing.T) {
	x := stm.NewVar(0)
	got := make(chan int, 1)
	go func() {
		n, err := stm.Atomically(waitUntilPositive(x))
		assert.NoError(t, err)
		got <- n
	}()
	x.Store(42)
	assert.Equal(t, 42, <-got)
}

func TestAtomicallyContextCancelsWait(t *testing.T) {
	x := stm.NewVar(0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := stm.AtomicallyContext(ctx, waitUntilPositive(x))
		errc <- err
	}()
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
}

// TestNoLostWakeup hands a token back and forth between two goroutines that
// each wait (with Retry) for their turn. A single lost wake-up stalls both
// for good; the context deadline turns that into a failure, not a hang.
func TestNoLostWakeup(t *testing.T) {
	const rounds = 2000
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	turn := stm.NewVar(0)
	var wg sync.WaitGroup
	for me := range 2 {
		wg.Go(func() {
			for i := range rounds {
				_, err := stm.AtomicallyContext(ctx, func(tx *stm.Tx) (int, error) {
					if turn.Get(tx)%2 != me {
						tx.Retry()
					}
					turn.Set(tx, turn.Get(tx)+1)
					return 0, nil
				})
				if err != nil {
					t.Errorf("player %d, round %d: %v (a lost wake-up?)", me, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if !t.Failed() {
		assert.Equal(t, 2*rounds, turn.Load())
	}
}

func TestOrElse(t *testing.T) {
	x, y, log := stm.NewVar(0), stm.NewVar(0), stm.NewVar("")
	got, err := stm.Atomically(func(tx *stm.Tx) (string, error) {
		log.Set(tx, "start;")
		return stm.OrElse(tx,
			func(tx *stm.Tx) (string, error) {
				log.Set(tx, log.Get(tx)+"first;")
				y.Set(tx, 100)
				if x.Get(tx) == 0 {
					tx.Retry()
				}
				return "first", nil
			},
			func(tx *stm.Tx) (string, error) {
				assert.Equal(t, "start;", log.Get(tx), "the first branch's writes are discarded")
				assert.Equal(t, 0, y.Get(tx), "the first branch's writes are discarded")
				log.Set(tx, log.Get(tx)+"second;")
				return "second", nil
			})
	})
	require.NoError(t, err)
	assert.Equal(t, "second", got)
	assert.Equal(t, "start;second;", log.Load())
	assert.Equal(t, 0, y.Load())

	// First branch succeeds: its writes stay.
	x.Store(1)
	got, err = stm.Atomically(func(tx *stm.Tx) (string, error) {
		return stm.OrElse(tx,
			func(tx *stm.Tx) (string, error) { y.Set(tx, 7); _ = x.Get(tx); return "first", nil },
			func(tx *stm.Tx) (string, error) { return "second", nil })
	})
	require.NoError(t, err)
	assert.Equal(t, "first", got)
	assert.Equal(t, 7, y.Load())
}

func TestOrElseBothRetryWaitsOnBothBranches(t *testing.T) {
	a, b := stm.NewVar(0), stm.NewVar(0)
	pick := func(tx *stm.Tx) (string, error) {
		return stm.OrElse(tx,
			func(tx *stm.Tx) (string, error) {
				if a.Get(tx) == 0 {
					tx.Retry()
				}
				return "a", nil
			},
			func(tx *stm.Tx) (string, error) {
				if b.Get(tx) == 0 {
					tx.Retry()
				}
				return "b", nil
			})
	}
	for _, tc := range []struct {
		name string
		v    *stm.Var[int]
	}{{"first branch's var", a}, {"second branch's var", b}} {
		t.Run(tc.name, func(t *testing.T) {
			a.Store(0)
			b.Store(0)
			_, wait, err := stm.Attempt(pick)
			require.NoError(t, err)
			require.NotNil(t, wait, "both branches retried, so the transaction waits")
			defer wait.Cancel()
			tc.v.Store(1)
			assert.True(t, isClosed(wait.Done()))
		})
	}
}

func TestNestedOrElse(t *testing.T) {
	v := stm.NewVar(0)
	retry := func(tx *stm.Tx) (int, error) { v.Set(tx, v.Get(tx)+100); tx.Retry(); return 0, nil }
	got, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
		v.Set(tx, 1)
		return stm.OrElse(tx,
			func(tx *stm.Tx) (int, error) {
				v.Set(tx, v.Get(tx)+10)
				return stm.OrElse(tx, retry, retry) // both retry: the outer alternative runs
			},
			func(tx *stm.Tx) (int, error) {
				v.Set(tx, v.Get(tx)+2)
				return v.Get(tx), nil
			})
	})
	require.NoError(t, err)
	assert.Equal(t, 3, got)
	assert.Equal(t, 3, v.Load())
}

func TestOrElseErrorDiscardsBranchWrites(t *testing.T) {
	v := stm.NewVar(0)
	boom := errors.New("boom")
	got, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
		v.Set(tx, 1)
		_, err := stm.OrElse(tx,
			func(tx *stm.Tx) (int, error) { v.Set(tx, 2); return 0, boom },
			func(tx *stm.Tx) (int, error) { return 0, nil })
		assert.ErrorIs(t, err, boom)
		return v.Get(tx), nil // handled: the transaction goes on
	})
	require.NoError(t, err)
	assert.Equal(t, 1, got)
	assert.Equal(t, 1, v.Load())
}
