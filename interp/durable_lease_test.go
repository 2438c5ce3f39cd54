package interp_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

var leaseRaceRuns atomic.Int64

type leaseRaceWork struct {
	effect.Returns[int]
	N int
}

func (a leaseRaceWork) Run(context.Context) (int, error) {
	leaseRaceRuns.Add(1)
	time.Sleep(time.Millisecond)
	return a.N, nil
}

var leaseRaceLoop = effect.NewProgram("lease.loop", 1, func(n int) effect.Eff[int] {
	return effect.Do(func(e *effect.Ctx) int {
		for i := range n {
			effect.Call(e, leaseRaceWork{N: i})
			e.Sleep(time.Duration(4+i%9) * time.Millisecond)
		}
		return n
	})
})

// TestDurableStaleClaim: a timer's reclaim of a task races the claim loop's
// Claim of it (its stored RunAt has come). The older lease must not run a
// step after the newer one committed: that step would fail, the task be
// forgotten, and the activity it had just started be run again after
// ActivityTimeout. With no crash, every activity runs exactly once.
func TestDurableStaleClaim(t *testing.T) {
	leaseRaceRuns.Store(0)
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, leaseRaceLoop))
	d, err := interp.NewDurable(openSQLite(t, ""), interp.WithRegistry(reg), interp.WithLogger(quiet),
		interp.WithDurableOptions(interp.DurableOptions{Lease: time.Second, ActivityTimeout: time.Minute, Poll: 20 * time.Millisecond}))
	require.NoError(t, err)
	defer d.Close()
	const n = 40
	_, err = interp.StartProgram(d, leaseRaceLoop, n, interp.WithID("loop"))
	require.NoError(t, err)
	// With the activity timeout at a minute, a dropped completion would
	// hang the task past this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := waitID(ctx, d, "loop")
	require.NoError(t, err)
	require.Equal(t, n, v)
	require.Equal(t, int64(n), leaseRaceRuns.Load(), "every activity ran once")
}
