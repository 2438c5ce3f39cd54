package interp_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

var receiver = effect.NewProgram("receiver", 1, func(struct{}) effect.Eff[string] {
	return effect.Receive[string]()
})

// TestDurableCancelParked: a task parked by a message no worker can
// decode (its type is registered nowhere) can still be cancelled: the
// worker that next claims it ends it as cancelled instead of parking it
// again, and the worker's other tasks run on.
func TestDurableCancelParked(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "amber.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, receiver))
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond, ParkRetry: 50 * time.Millisecond}))
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()

	for _, id := range []string{"poisoned", "healthy"} {
		_, err := interp.StartProgram(d, receiver, struct{}{}, interp.WithID(id))
		require.NoError(t, err)
	}
	poll.Eventually(t, func() (bool, error) { return statusOf(t, st, "poisoned") == task.Waiting, nil }, "poisoned waits")
	require.NoError(t, st.Send(ctx, "poisoned", task.Envelope{Type: "main.Bogus", Data: []byte{0x01}}))
	poll.Eventually(t, func() (bool, error) { return statusOf(t, st, "poisoned") == task.Parked, nil }, "poisoned is parked")

	require.NoError(t, d.Cancel("poisoned"))
	poll.Eventually(t, func() (bool, error) { return statusOf(t, st, "poisoned") == task.Cancelled, nil },
		"the parked task is cancelled")

	require.NoError(t, d.Send("healthy", "hi"))
	h, err := interp.Attach(d, receiver, "healthy")
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := h.Wait(wctx)
	require.NoError(t, err)
	require.Equal(t, "hi", v)
}
