package interp_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// Order is the message the checkout program waits for.
type Order struct {
	Item string
	Qty  int
}

// checkout greets, waits a day, then waits for an order and sums it up.
var checkout = effect.NewProgram("checkout", 1, func(customer string) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		e.Log(0, "checkout started", "customer", customer)
		e.Sleep(24 * time.Hour)
		o := effect.Await(e, effect.Receive[Order]())
		n := effect.Call(e, Price{Item: o.Item})
		return customer + " owes " + strings.Repeat("$", n*o.Qty)
	})
})

// Price is an activity.
type Price struct {
	effect.Returns[int]
	Item string
}

// Run prices an item.
func (p Price) Run(context.Context) (int, error) { return len(p.Item), nil }

func checkoutRegistry() *task.Registry {
	r := task.NewRegistry()
	if err := task.Register(r, checkout); err != nil {
		panic(err)
	}
	if err := task.RegisterMessage[Order](r, "test.Order"); err != nil {
		panic(err)
	}
	return r
}

// suspendCheckout runs checkout until it waits for its order and returns
// the encoded task.
func suspendCheckout(t *testing.T) []byte {
	m := interp.NewMock(interp.WithRegistry(checkoutRegistry()))
	tk, err := interp.StartProgram(m, checkout, "ann", interp.WithID("order-1"))
	require.NoError(t, err)
	m.Advance(25 * time.Hour)
	_, _, done := tk.Result()
	require.False(t, done)
	rec, err := tk.Record()
	require.NoError(t, err)
	require.Len(t, rec.Journal, 2, "Log and Sleep are journaled; the Receive is pending")
	b, err := task.EncodeRecord(rec)
	require.NoError(t, err)
	return b
}

func TestResumeFromRecord(t *testing.T) {
	b := suspendCheckout(t)
	rec, err := task.DecodeRecord(b)
	require.NoError(t, err)

	// A fresh interpreter continues the task where its journal ends.
	m := interp.NewMock(interp.WithRegistry(checkoutRegistry()))
	tk, err := interp.Restore(m, rec)
	require.NoError(t, err)
	m.RunUntilIdle()
	require.NoError(t, m.Send("order-1", Order{Item: "tea", Qty: 2}))
	v, err := tk.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ann owes $$$$$$", v)
	require.Len(t, journal(t, tk), 4)
}

func TestResumeMailboxAndUnknownProgram(t *testing.T) {
	// A message that arrived before the snapshot is in the record.
	m := interp.NewMock(interp.WithRegistry(checkoutRegistry()))
	tk, err := interp.StartProgram(m, checkout, "bob", interp.WithID("order-2"))
	require.NoError(t, err)
	m.RunUntilIdle()
	require.NoError(t, m.Send("order-2", Order{Item: "ab", Qty: 1}))
	m.RunUntilIdle()
	rec, err := tk.Record()
	require.NoError(t, err)
	require.Len(t, rec.Mailbox, 1)

	m2 := interp.NewMock(interp.WithRegistry(checkoutRegistry()))
	tk2, err := interp.Restore(m2, rec)
	require.NoError(t, err)
	v, err := tk2.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "bob owes $$", v)

	// Without the program registered, Resume says so.
	_, err = interp.Restore(interp.NewMock(), rec)
	require.ErrorIs(t, err, task.ErrUnknownProgram)
}

func TestResumeWrongProgramDiverges(t *testing.T) {
	b := suspendCheckout(t)
	rec, err := task.DecodeRecord(b)
	require.NoError(t, err)
	other := effect.NewProgram("checkout", 2, func(customer string) effect.Eff[string] {
		return effect.Then(effect.Now(), func(time.Time) effect.Eff[string] { return effect.Pure(customer) })
	})
	reg := checkoutRegistry()
	require.NoError(t, task.Register(reg, other))
	_, err = interp.ReplayRecord(context.Background(), rec, interp.ReplayVersion(2), interp.WithRegistry(reg))
	var de *interp.DivergenceError
	require.ErrorAs(t, err, &de)
	require.Equal(t, uint64(1), de.Seq)
	require.Contains(t, de.Recorded, "LogOp")
	require.Contains(t, de.Issued, "NowOp")
	require.Contains(t, de.Error(), "order-1")
}

// TestResumeInFreshProcess encodes a suspended task to a file, and a new
// process (this test binary again) loads it and finishes it.
func TestResumeInFreshProcess(t *testing.T) {
	if path := os.Getenv("AMBER_RESUME_FILE"); path != "" {
		return // we are the child: TestResumeChild does the work
	}
	path := filepath.Join(t.TempDir(), "task.cbor")
	require.NoError(t, os.WriteFile(path, suspendCheckout(t), 0o600))
	cmd := exec.Command(os.Args[0], "-test.run=^TestResumeChild$", "-test.v")
	cmd.Env = append(os.Environ(), "AMBER_RESUME_FILE="+path)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "RESULT: ann owes $$$$$$$$$")
}

func TestResumeChild(t *testing.T) {
	path := os.Getenv("AMBER_RESUME_FILE")
	if path == "" {
		t.Skip("run by TestResumeInFreshProcess")
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	rec, err := task.DecodeRecord(b)
	require.NoError(t, err)
	m := interp.NewMock(interp.WithRegistry(checkoutRegistry()))
	tk, err := interp.Restore(m, rec)
	require.NoError(t, err)
	m.RunUntilIdle()
	require.NoError(t, m.Send(rec.ID, Order{Item: "tea", Qty: 3}))
	v, err := tk.Wait(context.Background())
	require.NoError(t, err)
	t.Logf("RESULT: %v", v)
}
