package supervise_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/supervise"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// Cmd tells a worker to crash or to end normally.
type Cmd string

// worker waits for commands.
var worker = effect.NewProgram("worker", 1, func(name string) effect.Eff[effect.Unit] {
	return effect.Do(func(e *effect.Ctx) effect.Unit {
		for {
			switch effect.Await(e, effect.Receive[Cmd]()) {
			case "crash":
				panic("crash " + name)
			case "exit":
				return effect.Unit{}
			}
		}
	})
})

func child(name string, r supervise.Restart) supervise.Child {
	return supervise.Child{Name: name, Start: supervise.Worker(worker), Input: name, Restart: r}
}

// harness runs a supervisor under the mock and reads what it did from its
// journal.
type harness struct {
	t    *testing.T
	m    *interp.Mock
	sup  *interp.Handle[any]
	seen int // journal entries already looked at
}

func start(t *testing.T, spec supervise.Spec) *harness {
	m := interp.NewMock(interp.WithRegistry(task.NewRegistry()))
	started, err := interp.Start(m, supervise.Supervisor(spec))
	require.NoError(t, err)
	sup, ok := m.Task(started.ID())
	require.True(t, ok)
	h := &harness{t: t, m: m, sup: sup}
	m.RunUntilIdle()
	h.events() // the initial starts
	return h
}

type spawnOp struct {
	Program string
	Input   any
}

// name is a worker's input, or the program of another child.
func (o spawnOp) name() string {
	if s, ok := o.Input.(string); ok {
		return s
	}
	return o.Program
}

type killOp struct {
	ID     string
	Reason string
}

// journal returns the supervisor's journal.
func (h *harness) journal() task.Journal {
	h.t.Helper()
	j, err := h.sup.Journal()
	require.NoError(h.t, err)
	return j
}

// events returns the children (re)started and killed since the last call,
// by name, in journal order.
func (h *harness) events() (started, killed []string) {
	h.t.Helper()
	j := h.journal()
	for _, en := range j[h.seen:] {
		switch {
		case strings.HasSuffix(en.Kind, "SpawnOp"):
			var op spawnOp
			require.NoError(h.t, task.Unmarshal(en.Op, &op))
			started = append(started, op.name())
		case strings.HasSuffix(en.Kind, "KillOp"):
			var op killOp
			require.NoError(h.t, task.Unmarshal(en.Op, &op))
			killed = append(killed, h.name(op.ID))
		}
	}
	h.seen = len(j)
	return started, killed
}

// id returns the task now running child name: its latest spawn.
func (h *harness) id(name string) string {
	h.t.Helper()
	id := ""
	for _, en := range h.journal() {
		if strings.HasSuffix(en.Kind, "SpawnOp") {
			var op spawnOp
			require.NoError(h.t, task.Unmarshal(en.Op, &op))
			if op.name() == name {
				require.NoError(h.t, task.Unmarshal(en.Result, &id))
			}
		}
	}
	require.NotEmpty(h.t, id, "child %s never started", name)
	return id
}

func (h *harness) name(id string) string {
	for _, en := range h.journal() {
		if strings.HasSuffix(en.Kind, "SpawnOp") {
			var got string
			var op spawnOp
			_ = task.Unmarshal(en.Result, &got)
			_ = task.Unmarshal(en.Op, &op)
			if got == id {
				return op.name()
			}
		}
	}
	return "?" + id
}

func (h *harness) send(name string, c Cmd) {
	h.t.Helper()
	require.NoError(h.t, h.m.Send(h.id(name), c))
	h.m.RunUntilIdle()
}

// TestStrategies checks, for every strategy and every child, which
// children are terminated and restarted, in which order, against OTP's
// documented behaviour.
func TestStrategies(t *testing.T) {
	names := []string{"c1", "c2", "c3"}
	tests := []struct {
		strategy         supervise.Strategy
		crash            string
		killed, restarts []string
	}{
		{supervise.OneForOne, "c1", nil, []string{"c1"}},
		{supervise.OneForOne, "c2", nil, []string{"c2"}},
		{supervise.OneForOne, "c3", nil, []string{"c3"}},
		{supervise.OneForAll, "c1", []string{"c3", "c2"}, []string{"c1", "c2", "c3"}},
		{supervise.OneForAll, "c2", []string{"c3", "c1"}, []string{"c1", "c2", "c3"}},
		{supervise.OneForAll, "c3", []string{"c2", "c1"}, []string{"c1", "c2", "c3"}},
		{supervise.RestForOne, "c1", []string{"c3", "c2"}, []string{"c1", "c2", "c3"}},
		{supervise.RestForOne, "c2", []string{"c3"}, []string{"c2", "c3"}},
		{supervise.RestForOne, "c3", nil, []string{"c3"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/%s", tc.strategy, tc.crash), func(t *testing.T) {
			spec := supervise.Spec{Strategy: tc.strategy, Intensity: 5}
			for _, n := range names {
				spec.Children = append(spec.Children, child(n, supervise.Permanent))
			}
			h := start(t, spec)
			h.send(tc.crash, "crash")
			restarted, killed := h.events()
			require.Equal(t, tc.killed, killed, "terminated, in order")
			require.Equal(t, tc.restarts, restarted, "restarted, in order")
			_, _, done := h.sup.Result()
			require.False(t, done, "the supervisor keeps running")
		})
	}
}

func TestRestartTypes(t *testing.T) {
	tests := []struct {
		restart supervise.Restart
		cmd     Cmd
		again   bool
	}{
		{supervise.Permanent, "crash", true},
		{supervise.Permanent, "exit", true},
		{supervise.Transient, "crash", true},
		{supervise.Transient, "exit", false},
		{supervise.Temporary, "crash", false},
		{supervise.Temporary, "exit", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/%s", tc.restart, tc.cmd), func(t *testing.T) {
			h := start(t, supervise.Spec{Strategy: supervise.OneForOne, Children: []supervise.Child{child("c", tc.restart)}})
			h.send("c", tc.cmd)
			restarted, _ := h.events()
			require.Equal(t, tc.again, slices.Contains(restarted, "c"))
		})
	}
}

// TestIntensity: more than Intensity restarts within Period shut the
// supervisor down: every child is terminated and it fails with
// ErrIntensity. Restarts spread over more than Period are fine.
func TestIntensity(t *testing.T) {
	spec := supervise.Spec{Strategy: supervise.OneForOne, Intensity: 2, Period: time.Minute,
		Children: []supervise.Child{child("a", supervise.Permanent), child("b", supervise.Permanent)}}

	h := start(t, spec)
	for range 3 {
		h.send("a", "crash")
		h.m.Advance(time.Minute) // each restart in a period of its own
	}
	_, _, done := h.sup.Result()
	require.False(t, done, "restarts spread out are within the intensity")

	h = start(t, spec)
	h.send("a", "crash")
	h.send("a", "crash")
	_, _, done = h.sup.Result()
	require.False(t, done)
	b := h.id("b")
	h.send("a", "crash")
	_, err, done := h.sup.Result()
	require.True(t, done)
	require.ErrorIs(t, err, supervise.ErrIntensity)
	_, killed := h.events()
	require.Equal(t, []string{"b"}, killed, "the other children are terminated")
	bt, ok := h.m.Task(b)
	require.True(t, ok)
	_, _, bdone := bt.Result()
	require.True(t, bdone)
}

// TestSimpleOneForOne starts dynamic children from a template and restarts
// a crashed one with its own input.
func TestSimpleOneForOne(t *testing.T) {
	tmpl := child("", supervise.Permanent)
	h := start(t, supervise.Spec{Strategy: supervise.SimpleOneForOne, Template: tmpl, Intensity: 5})
	client, err := interp.Start(h.m, effect.Do(func(e *effect.Ctx) []string {
		self := effect.Await(e, effect.Self[supervise.Started]())
		var ids []string
		for _, in := range []string{"x", "y"} {
			effect.Await(e, effect.Send(effect.PID[supervise.StartChild]{ID: h.sup.ID()}, supervise.StartChild{Input: in, ReplyTo: self.ID}))
			ids = append(ids, effect.Await(e, effect.Receive[supervise.Started]()).ID)
		}
		return ids
	}))
	require.NoError(t, err)
	v, err := client.Wait(context.Background())
	require.NoError(t, err)
	require.Len(t, v, 2)
	started, _ := h.events()
	require.Equal(t, []string{"x", "y"}, started)
	h.send("y", "crash")
	started, _ = h.events()
	require.Equal(t, []string{"y"}, started)
}

// TestNested: a child supervisor whose intensity is exceeded fails, and
// its parent restarts it (with its children).
func TestNested(t *testing.T) {
	inner := effect.NewProgram("inner", 1, func(effect.Unit) effect.Eff[effect.Unit] {
		return supervise.Supervisor(supervise.Spec{Strategy: supervise.OneForOne, Intensity: 1, Period: time.Hour,
			Children: []supervise.Child{child("leaf", supervise.Permanent)}})
	})
	h := start(t, supervise.Spec{Strategy: supervise.OneForOne, Intensity: 3,
		Children: []supervise.Child{{Name: "inner", Start: supervise.Worker(inner), Restart: supervise.Permanent}}})
	firstInner := h.id("inner")
	// Find the leaf through the inner supervisor's journal.
	leafOf := func(innerID string) string {
		it, ok := h.m.Task(innerID)
		require.True(t, ok)
		ih := &harness{t: t, m: h.m, sup: it}
		return ih.id("leaf")
	}
	leaf := leafOf(firstInner)
	require.NoError(t, h.m.Send(leaf, Cmd("crash")))
	h.m.RunUntilIdle()
	require.NoError(t, h.m.Send(leafOf(firstInner), Cmd("crash")))
	h.m.RunUntilIdle()
	it, _ := h.m.Task(firstInner)
	_, err, done := it.Result()
	require.True(t, done)
	require.True(t, errors.Is(err, supervise.ErrIntensity) || strings.Contains(fmt.Sprint(err), "intensity"), "%v", err)
	require.NotEqual(t, firstInner, h.id("inner"), "the parent restarted the inner supervisor")
}

// TestWorkerInput: a child's input of the wrong type fails its start
// rather than becoming a zero value; an input that went through a store
// (an int decoded as a uint64) still reaches the child as its type.
func TestWorkerInput(t *testing.T) {
	double := effect.NewProgram("double", 1, func(n int) effect.Eff[int] { return effect.Pure(2 * n) })
	ctx := context.Background()
	m := interp.NewMock(interp.WithRegistry(task.NewRegistry()))

	_, err := interp.Run(ctx, m, supervise.Worker(double)("three"))
	require.ErrorIs(t, err, supervise.ErrBadInput)
	require.ErrorContains(t, err, "string is not a int")

	id, err := interp.Run(ctx, m, supervise.Worker(double)(uint64(3)))
	require.NoError(t, err)
	child, err := interp.Attach(m, double, id)
	require.NoError(t, err)
	v, err := child.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 6, v)
}
