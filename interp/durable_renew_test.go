package interp_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/pgtest"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/memstore"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

var (
	longRuns    atomic.Int64
	longRelease chan struct{}
)

type longWork struct{ effect.Returns[int] }

func (longWork) Run(ctx context.Context) (int, error) {
	longRuns.Add(1)
	select {
	case <-longRelease:
		return 7, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

var longActProg = effect.NewProgram("long.activity", 1, func(effect.Unit) effect.Eff[int] {
	return effect.Perform(longWork{})
})

// TestDurableLongActivityKeepsLease: an activity attempt that outlives
// the lease its step kept runs once while its worker lives, though another
// worker claims tasks beside it: the worker renews the lease.
func TestDurableLongActivityKeepsLease(t *testing.T) {
	longActivityKeepsLease(t, memstore.New())
}

func TestDurableLongActivityKeepsLeasePostgres(t *testing.T) {
	pgtest.URL(t)
	longActivityKeepsLease(t, pgtest.Open(t, "interp_renew_"))
}

func longActivityKeepsLease(t *testing.T, st store.Store) {
	longRuns.Store(0)
	longRelease = make(chan struct{})
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, longActProg))
	o := interp.DurableOptions{Lease: 300 * time.Millisecond, ActivityTimeout: time.Minute, Poll: 20 * time.Millisecond}
	mk := func(owner string) *interp.Durable {
		o.Owner = owner
		d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), interp.WithDurableOptions(o))
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		return d
	}
	// b would take the task over at the first lease's expiry, and run the
	// attempt again, if a did not renew it.
	a, _ := mk("a"), mk("b")
	_, err := interp.StartProgram(a, longActProg, effect.Unit{}, interp.WithID("long"))
	require.NoError(t, err)
	start := time.Now()
	poll.Eventually(t, func() (bool, error) { return longRuns.Load() >= 1, nil }, "the attempt starts")
	poll.Eventually(t, func() (bool, error) { return time.Since(start) > 5*o.Lease, nil }, "five leases pass")
	// Without renewal, b takes the task over when the first lease runs out
	// and runs the attempt again.
	require.Equal(t, int64(1), longRuns.Load(), "the attempt ran once while its worker lived")
	close(longRelease)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := waitID(ctx, a, "long")
	require.NoError(t, err)
	require.Equal(t, 7, v)
}
