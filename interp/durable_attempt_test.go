package interp_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// Attempts records the attempts of Charge3 and blocks its third attempt
// in the first process, as if that process died during it.
var attempts = struct {
	sync.Mutex
	seen  []int
	keys  []string
	block chan struct{}
}{}

type Charge3 struct{ effect.Returns[string] }

var errDeclined = errors.New("declined, try again")

func (Charge3) RetryPolicy() effect.RetryPolicy {
	return effect.RetryPolicy{InitialInterval: 20 * time.Millisecond, MaximumAttempts: 5}
}

func (Charge3) Run(ctx context.Context) (string, error) {
	attempts.Lock()
	n := effect.Attempt(ctx)
	attempts.seen = append(attempts.seen, n)
	attempts.keys = append(attempts.keys, effect.IdempotencyKey(ctx))
	block := attempts.block
	attempts.Unlock()
	switch {
	case n < 3:
		return "", errDeclined
	case block != nil:
		<-block // the first process "dies" here
		return "", errors.New("abandoned")
	}
	return "charged", nil
}

var charge3 = effect.NewProgram("charge3", 1, func(effect.Unit) effect.Eff[string] {
	return effect.Perform(Charge3{})
})

// TestDurableAttemptSurvivesCrash: the attempt number is durable. A
// process that dies during attempt 3 leaves the task to resume at attempt
// 3, not 1, with the same idempotency key.
func TestDurableAttemptSurvivesCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, charge3))
	opts := interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond, Lease: time.Second, ActivityTimeout: time.Second})
	block := make(chan struct{})
	attempts.Lock()
	attempts.seen, attempts.keys, attempts.block = nil, nil, block
	attempts.Unlock()

	st := openSQLite(t, path)
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), opts)
	require.NoError(t, err)
	_, err = interp.StartProgram(d, charge3, effect.Unit{}, interp.WithID("c3"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for { // until attempt 3 runs
		attempts.Lock()
		n := len(attempts.seen)
		attempts.Unlock()
		if n == 3 {
			break
		}
		require.NoError(t, ctx.Err())
		time.Sleep(5 * time.Millisecond)
	}
	// The stored state says attempt 3 is running.
	for {
		rec, _, err := st.Load(ctx, "c3")
		require.NoError(t, err)
		if rec.Wait != nil && len(rec.Wait.Ops) == 1 && rec.Wait.Ops[0].Attempt == 3 {
			require.Equal(t, task.PhaseRunning, rec.Wait.Ops[0].Phase)
			// Its deadline is real (task show printed the zero time), and
			// is when the store looks at the task again.
			require.False(t, rec.Wait.Ops[0].Until.IsZero(), "the running attempt's deadline is stored")
			require.Equal(t, rec.RunAt, rec.Wait.Ops[0].Until)
			break
		}
		require.NoError(t, ctx.Err())
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, d.Close()) // the process dies; attempt 3 never reports
	attempts.Lock()
	attempts.block = nil
	attempts.Unlock()

	d, err = interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), opts)
	require.NoError(t, err)
	defer d.Close()
	v, err := d.Wait(ctx, "c3")
	require.NoError(t, err)
	require.Equal(t, "charged", v)
	close(block)
	attempts.Lock()
	defer attempts.Unlock()
	// Attempts are at least once (a lease that expires on a loaded machine
	// may run one again), but never go back: after the crash the task
	// resumed at attempt 3, not 1, and needed no attempt 4.
	seen := attempts.seen
	require.True(t, slices.IsSorted(seen), "attempts never go back: %v", seen)
	require.Equal(t, 1, seen[0])
	require.Equal(t, 3, seen[len(seen)-1], "the last attempt is 3: %v", seen)
	require.GreaterOrEqual(t, len(seen)-slices.Index(seen, 3), 2, "attempt 3 ran again under its number: %v", seen)
	for _, k := range attempts.keys {
		require.Equal(t, attempts.keys[0], k, "one idempotency key for all attempts")
	}
}

func TestDurableCancel(t *testing.T) {
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, waiter))
	st := openSQLite(t, "")
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	_, err = interp.StartProgram(d, waiter, "w:", interp.WithID("w"))
	require.NoError(t, err)
	waitStatus(t, d, st, "w", task.Waiting)
	require.NoError(t, d.Cancel("w"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = d.Wait(ctx, "w")
	require.ErrorIs(t, err, effect.ErrCancelled)
	s, err := st.Status(ctx, "w")
	require.NoError(t, err)
	require.Equal(t, task.Cancelled, s)
	var nt *interp.NoTaskError
	require.NotErrorAs(t, d.Send("w", "late"), &nt, "the store refuses a message to a finished task with its own error")
	require.Error(t, d.Send("w", "late"))
}
