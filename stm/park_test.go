package stm

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amberrt/amber/internal/poll"
)

// gate is an Owner whose Prepare holds the commit (and so its locks) until
// the test lets it go, then returns what the test says.
type gate struct {
	entered chan struct{}
	release chan error
}

func newGate() *gate { return &gate{entered: make(chan struct{}), release: make(chan error)} }

func (g *gate) Prepare(*Commit) error {
	g.entered <- struct{}{}
	return <-g.release
}

// parked reports whether c has n parked Waits.
func parked(c *varCore, n int) func() (bool, error) {
	return func() (bool, error) {
		c.waitMu.Lock()
		defer c.waitMu.Unlock()
		k := 0
		for w := range c.waiters {
			if w.park {
				k++
			}
		}
		return k == n, nil
	}
}

// TestParkOnSlowPrepare: a transaction that meets a var locked by a commit
// whose Prepare is slow (a store round trip) gives up once and is parked
// until that commit publishes or gives its locks back; it is not rerun in
// a loop meanwhile. Both ways in are covered: a read of the locked var and
// a commit that must lock it. A Retry waiter on the var is not woken by a
// refused commit (nothing was published).
func TestParkOnSlowPrepare(t *testing.T) {
	for _, tc := range []struct {
		name   string
		refuse error
	}{{"published", nil}, {"refused", errors.New("refused")}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate()
			v := NewOwned(g, "v", 1, 0)
			c := &v.core
			other := NewVar(0)

			// A Retry waiter on v, which only a published write may wake.
			_, retry, err := Attempt(func(tx *Tx) (int, error) {
				if v.Get(tx) < 100 {
					tx.Retry()
				}
				return 0, nil
			})
			require.NoError(t, err)
			require.NotNil(t, retry)
			defer retry.Cancel()

			committed := make(chan error, 1)
			go func() {
				_, err := Atomically(func(tx *Tx) (int, error) { v.Set(tx, 2); return 0, nil })
				committed <- err
			}()
			<-g.entered // v is locked until release

			var reads, writes atomic.Int32
			readDone := make(chan int, 1)
			go func() {
				x, _ := Atomically(func(tx *Tx) (int, error) { reads.Add(1); return v.Get(tx), nil })
				readDone <- x
			}()
			writeDone := make(chan error, 1)
			go func() {
				_, err := Atomically(func(tx *Tx) (int, error) {
					writes.Add(1)
					other.Set(tx, 1) // not an owned write: no Prepare of its own
					v.Set(tx, 3)     // a blind write: the commit meets the lock
					return 0, nil
				})
				writeDone <- err
			}()
			poll.Eventually(t, parked(c, 2), "a reader and a writer park on the locked var")
			assert.Equal(t, int32(1), reads.Load(), "the reader gave up once and waits")
			assert.Equal(t, int32(1), writes.Load(), "the writer gave up once and waits")

			g.release <- tc.refuse
			require.ErrorIs(t, <-committed, tc.refuse)
			// Woken, the writer runs once more and its commit holds v in
			// Prepare now: nothing else happened to v in between.
			<-g.entered
			assert.Equal(t, int32(2), writes.Load(), "woken once, run once more")
			select {
			case <-retry.Done():
				assert.Nil(t, tc.refuse, "a refused commit woke a Retry waiter")
			default:
				assert.NotNil(t, tc.refuse, "the published write did not wake the Retry waiter")
			}
			g.release <- nil
			require.NoError(t, <-writeDone)
			x := <-readDone
			if tc.refuse == nil {
				assert.Contains(t, []int{2, 3}, x)
			} else {
				assert.Contains(t, []int{1, 3}, x)
			}
			assert.LessOrEqual(t, reads.Load(), int32(3), "at most one park per commit met")
			assert.Equal(t, 3, v.Load())
		})
	}
}
