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
	"github.com/amberrt/amber/internal/poll"
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
	poll.Eventually(t, func() (bool, error) {
		attempts.Lock()
		defer attempts.Unlock()
		return len(attempts.seen) == 3, nil
	}, "attempt 3 runs")
	var op task.OpState
	poll.Eventually(t, func() (bool, error) {
		rec, _, err := st.Load(ctx, "c3")
		if err != nil || rec.Wait == nil || len(rec.Wait.Ops) != 1 {
			return false, err
		}
		op = rec.Wait.Ops[0]
		if op.Attempt != 3 {
			return false, nil
		}
		// Its deadline is real (task show printed the zero time), and
		// is when the store looks at the task again.
		require.False(t, op.Until.IsZero(), "the running attempt's deadline is stored")
		require.Equal(t, rec.RunAt, op.Until)
		return true, nil
	}, "the stored state is at attempt 3")
	require.Equal(t, task.PhaseRunning, op.Phase, "attempt 3 is running")
	require.NoError(t, d.Close()) // the process dies; attempt 3 never reports
	attempts.Lock()
	attempts.block = nil
	attempts.Unlock()

	d, err = interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), opts)
	require.NoError(t, err)
	defer d.Close()
	v, err := waitID(ctx, d, "c3")
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
