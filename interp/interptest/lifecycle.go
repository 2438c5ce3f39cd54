package interptest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// The lifecycle cases: a task that continues as new, an activity that is
// retried, a task that is cancelled.

// ErrFlaky is the error of a flaky activity's failed attempts.
var ErrFlaky = errors.New("flaky: try again")

// flaky is an activity that fails (ErrFlaky) until its attempt reaches
// Succeed, and records each attempt it sees, with its idempotency key, in
// the log named Log.
type flaky struct {
	effect.Returns[int]
	Log     string
	Succeed int
}

// RetryPolicy retries flaky at once (a millisecond is real time under
// Live and Durable), up to four attempts.
func (flaky) RetryPolicy() effect.RetryPolicy {
	return effect.RetryPolicy{InitialInterval: shortly, BackoffCoefficient: 2, MaximumAttempts: 4}
}

// Run fails until the attempt reaches Succeed, then returns the attempt.
func (f flaky) Run(ctx context.Context) (int, error) {
	n := effect.Attempt(ctx)
	attemptLogs.add(f.Log, n, effect.IdempotencyKey(ctx))
	if n < f.Succeed {
		return 0, fmt.Errorf("attempt %d: %w", n, ErrFlaky)
	}
	return n, nil
}

// attemptLog is what a flaky activity saw, by log name: each run of a
// case has its own.
type attemptLog struct {
	mu       sync.Mutex
	attempts map[string][]int
	keys     map[string][]string
	n        int
}

var attemptLogs = attemptLog{attempts: map[string][]int{}, keys: map[string][]string{}}

func (l *attemptLog) add(name string, attempt int, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts[name] = append(l.attempts[name], attempt)
	l.keys[name] = append(l.keys[name], key)
}

// open returns a fresh log name.
func (l *attemptLog) open() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return fmt.Sprintf("log%d", l.n)
}

// seen returns what the activities of log name saw, and forgets it.
func (l *attemptLog) seen(name string) ([]int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, k := l.attempts[name], l.keys[name]
	delete(l.attempts, name)
	delete(l.keys, name)
	return a, k
}

type retryIn struct {
	Log     string
	Succeed int
}

// retrier performs one flaky activity.
var retrier = effect.NewProgram("interptest.retrier", 1, func(in retryIn) effect.Eff[int] {
	return effect.Perform(flaky{Log: in.Log, Succeed: in.Succeed})
})

// keyOf is an activity that returns the idempotency key it sees.
type keyOf struct{ effect.Returns[string] }

// Run returns the op's idempotency key.
func (keyOf) Run(ctx context.Context) (string, error) { return effect.IdempotencyKey(ctx), nil }

// echoID sends its own ID to its parent.
var echoID = effect.NewProgram("interptest.echoid", 1, func(parent string) effect.Eff[string] {
	return effect.Then(effect.Self[string](), func(self effect.PID[string]) effect.Eff[string] {
		return effect.As(effect.Send(effect.PID[string]{ID: parent}, self.ID), self.ID)
	})
})

type relayIn struct {
	Runs     int      // the runs left, this one included
	Children []string // the children of the earlier runs
	Keys     []string // the idempotency keys keyOf saw in the earlier runs
}

// relay spawns a child and calls an activity in each of its runs, and
// continues as new until Runs is done.
var relay = effect.NewProgram("interptest.relay", 1, func(in relayIn) effect.Eff[relayIn] {
	run := effect.Do(func(e *effect.Ctx) relayIn {
		self := effect.Await(e, effect.Self[string]())
		pid := effect.Await(e, effect.Spawn[string](echoID, self.ID))
		if got := effect.Await(e, effect.Receive[string]()); got != pid.ID {
			panic(fmt.Sprintf("child %s says it is %s", pid.ID, got))
		}
		key := effect.Call(e, keyOf{})
		return relayIn{Runs: in.Runs - 1, Children: append(in.Children, pid.ID), Keys: append(in.Keys, key)}
	})
	return effect.Then(run, func(next relayIn) effect.Eff[relayIn] {
		if next.Runs == 0 {
			return effect.Pure(next)
		}
		return effect.ContinueAsNew[relayIn](next)
	})
})

// patient calls an activity, logs, and waits for a Note.
var patient = effect.NewProgram("interptest.patient", 1, func(n int) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		effect.Call(e, Double{N: n})
		e.Log(slog.LevelInfo, "waiting for a note")
		return effect.Await(e, effect.Receive[Note]()).Text
	})
})

func lifecycleCases() []runtimeCase {
	return []runtimeCase{
		one("ContinueAsNew", testContinueAsNew, relay, echoID),
		one("Retry/succeeds", func(h *harness) { testRetry(h, 3) }, retrier),
		one("Retry/exhausted", func(h *harness) { testRetry(h, 99) }, retrier),
		one("Cancel/handle", func(h *harness) { testCancel(h, false) }, patient),
		one("Cancel/runtime", func(h *harness) { testCancel(h, true) }, patient),
	}
}

// testContinueAsNew: a task that continues as new three times, spawning a
// child and calling an activity in each run, gives each child its own ID
// and each activity its own idempotency key; what remains is the last
// run's journal and input.
func testContinueAsNew(h *harness) {
	const runs = 3
	tk := start(h, relay, relayIn{Runs: runs})
	out, err := wait(h, tk)
	if err != nil {
		h.t.Fatalf("relay: %v", err)
	}
	if len(out.Children) != runs || !distinct(out.Children) {
		h.t.Errorf("children of the %d runs: %q, want %d distinct IDs", runs, out.Children, runs)
	}
	if len(out.Keys) != runs || !distinct(out.Keys) {
		h.t.Errorf("idempotency keys of the %d runs' activity: %q, want %d distinct keys", runs, out.Keys, runs)
	}
	for _, id := range out.Children {
		if id == tk.ID() {
			h.t.Errorf("a child has its parent's ID %s", id)
			continue
		}
		if v, err := wait(h, h.task(id)); err != nil || v != id {
			h.t.Errorf("child %s: got %v, %v; want its ID", id, v, err)
		}
	}
	wantKinds(h.t, Outcome{Journal: journal(h, tk)}, "SelfOp", "SpawnOp", "ReceiveOp[string]", "keyOf")
	rec, err := tk.Record()
	if err != nil {
		h.t.Fatalf("record: %v", err)
	}
	var in relayIn
	if err := task.Unmarshal(rec.Input, &in); err != nil || in.Runs != 1 || len(in.Children) != runs-1 {
		h.t.Errorf("stored input %+v (%v), want the last run's (1 run left, %d children)", in, err, runs-1)
	}
}

// testRetry: an activity that fails is retried with the same idempotency
// key and increasing attempt numbers until it succeeds or its policy's
// attempts run out; only the outcome is journaled. Attempts are at least
// once: a durable interpreter may run one again (a lease that expired on
// a loaded machine), never one that was before it.
func testRetry(h *harness, succeed int) {
	log := attemptLogs.open()
	tk := start(h, retrier, retryIn{Log: log, Succeed: succeed})
	v, err := wait(h, tk)
	attempts, keys := attemptLogs.seen(log)
	last := min(succeed, 4)
	if succeed <= 4 {
		if err != nil || v != succeed {
			h.t.Errorf("got %v, %v; want %d (the attempt that succeeded)", v, err, succeed)
		}
	} else if !errors.Is(err, ErrFlaky) {
		h.t.Errorf("got %v, %v; want an error matching ErrFlaky after the last attempt", v, err)
	}
	if compact := slices.Compact(slices.Clone(attempts)); !slices.IsSorted(attempts) ||
		!slices.Equal(compact, []int{1, 2, 3, 4}[:last]) {
		h.t.Errorf("the activity saw attempts %v, want 1 to %d in order", attempts, last)
	}
	for _, k := range keys {
		if k == "" || k != keys[0] {
			h.t.Errorf("the activity saw idempotency keys %q, want one key for every attempt", keys)
			break
		}
	}
	if j := journal(h, tk); len(j) != 1 || !strings.HasSuffix(j[0].Kind, "flaky") {
		h.t.Errorf("journal %v, want the activity's outcome only", kinds(j))
	}
}

// testCancel: a task that waits is cancelled (through its handle, or
// through the runtime), with entries in its journal: it ends Cancelled
// with effect.ErrCancelled, accepts no more messages, and a second Cancel
// does nothing.
func testCancel(h *harness, viaRuntime bool) {
	tk := start(h, patient, 4)
	h.settle("the task waits for its note", func() (bool, error) {
		j, err := tk.Journal()
		return len(j) == 2, err
	})
	cancel := tk.Cancel
	if viaRuntime {
		cancel = func() error { return h.rt.Cancel(tk.ID()) }
	}
	if err := cancel(); err != nil {
		h.t.Fatalf("Cancel: %v", err)
	}
	v, err := wait(h, tk)
	if !errors.Is(err, effect.ErrCancelled) {
		h.t.Errorf("got %q, %v; want effect.ErrCancelled", v, err)
	}
	if s := status(h, tk); s != task.Cancelled {
		h.t.Errorf("status %s, want %s", s, task.Cancelled)
	}
	if _, err, done := tk.Result(); !done || !errors.Is(err, effect.ErrCancelled) {
		h.t.Errorf("Result: %v, done %v; want effect.ErrCancelled", err, done)
	}
	wantKinds(h.t, Outcome{Journal: journal(h, tk)}, "Double", "LogOp")
	if err := cancel(); err != nil {
		h.t.Errorf("a second Cancel: %v, want nothing done", err)
	}
	if s := status(h, tk); s != task.Cancelled {
		h.t.Errorf("status after a second Cancel %s, want %s", s, task.Cancelled)
	}
	if err := h.rt.Send(tk.ID(), Note{Text: "too late"}); err == nil {
		h.t.Errorf("Send to a cancelled task succeeded; it must fail")
	}
	if err := h.rt.Cancel("interptest-no-such-task"); err == nil {
		h.t.Errorf("Cancel of a task that does not exist succeeded; it must fail")
	}
}
