package interp_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

func greetV(v int, prefix string) *effect.Program[string, string] {
	return effect.NewProgram("greet", v, func(name string) effect.Eff[string] { return effect.Pure(prefix + name) })
}

// TestStartsCurrentVersion: a new task, started or spawned, runs the
// current version of its program (the highest registered here) unless
// WithVersion pins one; versions share their types.
func TestStartsCurrentVersion(t *testing.T) {
	ctx := context.Background()
	v1, v2 := greetV(1, "hello "), greetV(2, "hi ")
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, v1))
	require.NoError(t, task.Register(reg, v2))
	m := interp.NewMock(interp.WithRegistry(reg))

	h, err := interp.StartProgram(m, v1, "ann")
	require.NoError(t, err)
	got, err := h.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "hi ann", got, "a new task runs the current version")

	h, err = interp.StartProgram(m, v2, "bob", interp.WithVersion(1))
	require.NoError(t, err)
	got, err = h.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "hello bob", got, "WithVersion pins one")

	parent, err := interp.Start(m, effect.Then(effect.Spawn[effect.Unit](v1, "cy"), func(pid effect.PID[effect.Unit]) effect.Eff[string] {
		return effect.Pure(pid.ID)
	}))
	require.NoError(t, err)
	id, err := parent.Wait(ctx)
	require.NoError(t, err)
	child, err := interp.Attach(m, v1, id)
	require.NoError(t, err)
	got, err = child.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "hi cy", got, "a spawned task runs the current version")

	// Unregistered, a program runs as given.
	solo := greetV(7, "yo ")
	h, err = interp.StartProgram(interp.NewMock(), solo, "di")
	require.NoError(t, err)
	got, err = h.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "yo di", got)

	// Versions of a program share their input and output types.
	other := effect.NewProgram("greet", 3, func(n int) effect.Eff[string] { return effect.Pure("") })
	require.ErrorIs(t, task.Register(reg, other), task.ErrVersionTypes)
}

// TestContinueAsNewLatest: a forever task that continues as new on the
// latest version picks up a version registered while it runs.
func TestContinueAsNewLatest(t *testing.T) {
	var v1 *effect.Program[int, string]
	v1 = effect.NewProgram("forever", 1, func(n int) effect.Eff[string] {
		return effect.Then(effect.Receive[string](), func(string) effect.Eff[string] {
			return effect.ContinueAsNewLatest[string](n + 1)
		})
	})
	v2 := effect.NewProgram("forever", 2, func(n int) effect.Eff[string] {
		return effect.Pure("v2 took over at " + strconv.Itoa(n))
	})
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, v1))
	m := interp.NewMock(interp.WithRegistry(reg))
	h, err := interp.StartProgram(m, v1, 0)
	require.NoError(t, err)
	m.RunUntilIdle()
	require.NoError(t, m.Send(h.ID(), "tick"))
	m.RunUntilIdle()
	_, _, done := h.Result()
	require.False(t, done, "still on version 1")

	require.NoError(t, task.Register(reg, v2))
	require.NoError(t, m.Send(h.ID(), "tick"))
	got, err := h.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "v2 took over at 2", got)
	rec, err := h.Record()
	require.NoError(t, err)
	require.Equal(t, 2, rec.Version)
}
