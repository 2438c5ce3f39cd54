package inspect_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// Raise is the message the ask program waits for.
type Raise struct {
	By     string
	Amount int
	Urgent bool
}

// Fetch is an activity that succeeds.
type Fetch struct {
	effect.Returns[string]
	URL string
}

func (f Fetch) Run(context.Context) (string, error) { return "got " + f.URL, nil }

// Flaky is an activity that always fails, retried an hour later.
type Flaky struct{ effect.Returns[string] }

func (Flaky) Run(context.Context) (string, error) { return "", errors.New("upstream down") }

func (Flaky) RetryPolicy() effect.RetryPolicy {
	return effect.RetryPolicy{InitialInterval: time.Hour, MaximumAttempts: 3}
}

var (
	// ask reads the clock, then waits for a Raise.
	ask = effect.NewProgram("ask", 1, func(who string) effect.Eff[string] {
		return effect.Then(effect.Now(), func(time.Time) effect.Eff[string] {
			return effect.Map(effect.Receive[Raise](), func(r Raise) string { return fmt.Sprintf("%s raised by %s", who, r.By) })
		})
	})
	// fanout fetches two URLs in parallel fibers, then sleeps an hour.
	fanout = effect.NewProgram("fanout", 1, func(string) effect.Eff[effect.Unit] {
		return effect.Then(effect.Par(effect.Perform(Fetch{URL: "a"}), effect.Perform(Fetch{URL: "b"})),
			func([]string) effect.Eff[effect.Unit] { return effect.Sleep(time.Hour) })
	})
	flaky = effect.NewProgram("flaky", 1, func(string) effect.Eff[string] { return effect.Perform(Flaky{}) })
	done  = effect.NewProgram("done", 1, func(s string) effect.Eff[string] {
		return effect.Map(effect.Perform(Fetch{URL: s}), func(r string) string { return r + "!" })
	})
	failing = effect.NewProgram("failing", 1, func(s string) effect.Eff[string] {
		return effect.Fail[string](errors.New("bad input " + s))
	})
	// long writes n log lines and then waits for a Raise.
	long = effect.NewProgram("long", 1, func(n int) effect.Eff[string] {
		var loop func(i int) effect.Eff[string]
		loop = func(i int) effect.Eff[string] {
			if i == n {
				return effect.Map(effect.Receive[Raise](), func(r Raise) string { return r.By })
			}
			return effect.Then(effect.Now(), func(time.Time) effect.Eff[string] { return loop(i + 1) })
		}
		return loop(0)
	})
)

func registry() *task.Registry {
	r := task.NewRegistry()
	for _, err := range []error{
		task.Register(r, ask), task.Register(r, fanout), task.Register(r, flaky), task.Register(r, done),
		task.Register(r, failing), task.Register(r, long), task.RegisterMessage[Raise](r, "test.Raise"),
	} {
		if err != nil {
			panic(err)
		}
	}
	return r
}

// The other versions of ask, which the replay debugger replays ask's
// tasks against: v2 no longer reads the clock first (it diverges at entry
// 1), v3 words its result otherwise (it fits).
var (
	askV2 = effect.NewProgram("ask", 2, func(who string) effect.Eff[string] {
		return effect.Map(effect.Receive[Raise](), func(r Raise) string { return who + " by " + r.By })
	})
	askV3 = effect.NewProgram("ask", 3, func(who string) effect.Eff[string] {
		return effect.Then(effect.Now(), func(time.Time) effect.Eff[string] {
			return effect.Map(effect.Receive[Raise](), func(r Raise) string { return who + " got a raise from " + r.By })
		})
	})
)

// debugRegistry is registry() with ask's other versions: the registry of
// a later build, which the inspector's replay debugger knows.
func debugRegistry() *task.Registry {
	r := registry()
	if err := errors.Join(task.Register(r, askV2), task.Register(r, askV3)); err != nil {
		panic(err)
	}
	return r
}

// hostile is a task ID, an input and a message that would run script if
// they were not escaped.
const hostile = `<script>alert("x")</script>`

// The tasks of the fixture, one or more in every status.
const (
	waitingID   = "ask-1"
	hostileID   = "ask-" + hostile
	slashID     = "ask/2"
	fanoutID    = "fanout-1"
	flakyID     = "flaky-1"
	doneID      = "done-1"
	failedID    = "failed-1"
	cancelledID = "cancelled-1"
	parkedID    = "ghost-1"
	runningID   = "running-1"
	longID      = "long-1"
)

// populate fills st with tasks in every status, run by a durable worker
// that is closed when populate returns (so the tasks stay as they are).
// longN is the journal length of the long task.
func populate(t *testing.T, st store.Store, reg *task.Registry, longN int) {
	t.Helper()
	ctx := context.Background()
	d, err := interp.NewDurable(st, interp.WithRegistry(reg),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond}))
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			d.Close()
		}
	})
	start := func(p effect.AnyProgram, id string, in any) {
		_, err := interp.StartAny(d, p, in, interp.WithID(id))
		require.NoError(t, err)
	}
	start(ask, waitingID, "ann")
	start(ask, hostileID, hostile)
	start(ask, slashID, "bob")
	start(ask, cancelledID, "cyd")
	start(fanout, fanoutID, "x")
	start(flaky, flakyID, "x")
	start(done, doneID, "page")
	start(failing, failedID, hostile)
	start(long, longID, longN)
	now := time.Now().UTC()

	want := map[string]task.Status{
		waitingID: task.Waiting, hostileID: task.Waiting, slashID: task.Waiting, cancelledID: task.Waiting,
		fanoutID: task.Waiting, flakyID: task.Waiting, doneID: task.Done, failedID: task.Failed,
		longID: task.Waiting,
	}
	waitStatus(t, st, want)
	require.NoError(t, st.Cancel(ctx, cancelledID))
	waitStatus(t, st, map[string]task.Status{cancelledID: task.Cancelled})
	// The flaky task waits in its backoff once its first attempt failed.
	waitFor(t, "the flaky task's backoff", func() bool {
		rec, _, err := st.Load(ctx, flakyID)
		return err == nil && rec.Wait != nil && len(rec.Wait.Ops) == 1 && rec.Wait.Ops[0].Phase == task.PhaseBackoff
	})
	closed = true
	require.NoError(t, d.Close())

	// With no worker: a task parked because no build has its program (a
	// worker parks it, or, where claims filter by version, leaves it be),
	// a task that stays running, and messages the waiting task does not
	// take, one of a type no one registered.
	in, err := task.Marshal("boo")
	require.NoError(t, err)
	require.NoError(t, st.Create(ctx, &task.Record{ID: parkedID, Program: "ghost", Version: 1, Input: in, Status: task.Parked,
		Reason: "no program ghost v1 in this build", Created: now, Updated: now}))
	in, err = task.Marshal("dan")
	require.NoError(t, err)
	require.NoError(t, st.Create(ctx, &task.Record{ID: runningID, Program: "ask", Version: 1, Input: in, Status: task.Running, Created: now, Updated: now}))
	env, err := reg.EncodeMessage(Raise{By: hostile})
	require.NoError(t, err)
	require.NoError(t, st.Send(ctx, hostileID, env))
	unknown, err := task.Marshal(map[string]string{"secret": "<b>raw</b>"})
	require.NoError(t, err)
	require.NoError(t, st.Send(ctx, waitingID, task.Envelope{Type: "other.Unregistered", Data: unknown}))
}

func waitStatus(t *testing.T, st store.Store, want map[string]task.Status) {
	t.Helper()
	waitFor(t, fmt.Sprint("statuses ", want), func() bool {
		for id, s := range want {
			if got, _ := st.Status(context.Background(), id); got != s {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond until it holds, or fails the test after a generous
// deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runTo runs the task id of p (input in) on a durable worker over st
// until it has status s, then closes the worker (so the task stays so).
func runTo(t *testing.T, st store.Store, reg *task.Registry, p effect.AnyProgram, in any, id string, s task.Status) {
	t.Helper()
	d, err := interp.NewDurable(st, interp.WithRegistry(reg),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond}))
	require.NoError(t, err)
	_, err = interp.StartAny(d, p, in, interp.WithID(id))
	require.NoError(t, err)
	waitStatus(t, st, map[string]task.Status{id: s})
	require.NoError(t, d.Close())
}
