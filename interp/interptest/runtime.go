package interptest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
)

// Setup is what an interpreter needs to run one runtime case.
type Setup struct {
	// Name is the case's name, as in the subtest's: a runner may skip a
	// case that fails on its interpreter because of a known bug, naming
	// the bug (t.Skip("known bug: ...")).
	Name string
	// Registry holds every program the case starts or spawns, its
	// message types and its registered errors.
	Registry *task.Registry
	// Handlers must be installed.
	Handlers []effect.Handler
}

// NewRuntime returns a fresh interpreter configured with s. It must
// record journals (interp.WithJournal for Live) and be closed when t
// ends (t.Cleanup).
type NewRuntime func(t *testing.T, s Setup) interp.Runtime

// RunRuntime runs the suite's runtime cases, each as a subtest, on a
// fresh interpreter that newRT makes for it: tasks that talk to each
// other, link, monitor, take names and kill each other, continue as new,
// retry activities, and are cancelled. The cases use the public API only
// (interp.StartProgram, Runtime.Send, Runtime.Task, Handle).
//
// After a case, every task it started that has not failed is replayed
// from its record (interp.ReplayRecord): the replay must consume the
// task's journal as recorded and, if the task finished, give its result.
func RunRuntime(t *testing.T, newRT NewRuntime) {
	for _, c := range runtimeCases() {
		t.Run(c.name, func(t *testing.T) {
			progs, hs, drive := c.build()
			reg := newRegistry(progs...)
			rt := newRT(t, Setup{Name: c.name, Registry: reg, Handlers: hs})
			ctx, cancel := context.WithTimeout(context.Background(), poll.Deadline)
			defer cancel()
			h := &harness{t: t, rt: rt, reg: reg, ctx: ctx}
			drive(h)
			if !t.Failed() {
				h.replayStarted()
			}
		})
	}
}

// A runtimeCase builds, for each run, its programs, its handlers and the
// test that drives them, so that state they keep is fresh.
type runtimeCase struct {
	name  string
	build func() (progs []effect.AnyProgram, hs []effect.Handler, drive func(h *harness))
}

// harness drives one runtime case.
type harness struct {
	t       *testing.T
	rt      interp.Runtime
	reg     *task.Registry
	ctx     context.Context
	started []*interp.Handle[any]
}

// start starts p on in, failing the test if it cannot.
func start[I, O any](h *harness, p *effect.Program[I, O], in I) *interp.Handle[O] {
	h.t.Helper()
	tk, err := interp.StartProgram(h.rt, p, in)
	if err != nil {
		h.t.Fatalf("StartProgram(%s): %v", p.ProgramName(), err)
	}
	untyped, ok := h.rt.Task(tk.ID())
	if !ok {
		h.t.Fatalf("Runtime.Task(%s) of a task just started found nothing", tk.ID())
	}
	h.started = append(h.started, untyped)
	return tk
}

// wait waits for tk to finish, failing the test if it does not.
func wait[O any](h *harness, tk *interp.Handle[O]) (O, error) {
	h.t.Helper()
	v, err := tk.Wait(h.ctx)
	if h.ctx.Err() != nil || errors.Is(err, interp.ErrDeadlock) {
		h.t.Fatalf("task %s did not finish: %v", tk.ID(), err)
	}
	return v, err
}

// task returns the handle to task id, failing the test if there is none.
func (h *harness) task(id string) *interp.Handle[any] {
	h.t.Helper()
	tk, ok := h.rt.Task(id)
	if !ok {
		h.t.Fatalf("Runtime.Task(%s) found nothing", id)
	}
	return tk
}

// journal returns tk's journal, failing the test if it cannot be read.
func journal[O any](h *harness, tk *interp.Handle[O]) task.Journal {
	h.t.Helper()
	j, err := tk.Journal()
	if err != nil {
		h.t.Fatalf("journal of task %s: %v", tk.ID(), err)
	}
	return j
}

// spawned returns the n-th task (from 0) that tk spawned, from its
// journal.
func spawned[O any](h *harness, tk *interp.Handle[O], n int) *interp.Handle[any] {
	h.t.Helper()
	for _, en := range journal(h, tk) {
		if en.Kind != "effect.SpawnOp" {
			continue
		}
		if n > 0 {
			n--
			continue
		}
		var id string
		if err := task.Unmarshal(en.Result, &id); err != nil {
			h.t.Fatalf("task %s: spawn entry %d: %v", tk.ID(), en.Seq, err)
		}
		return h.task(id)
	}
	h.t.Fatalf("task %s spawned no task #%d: %v", tk.ID(), n, journal(h, tk))
	return nil
}

// settle waits until cond holds, running the interpreter if it runs its
// tasks only when asked (the Mock, the Sim).
func (h *harness) settle(what string, cond func() (bool, error)) {
	h.t.Helper()
	poll.Eventually(h.t, func() (bool, error) {
		switch rt := h.rt.(type) {
		case interface{ RunUntilIdle() int }:
			rt.RunUntilIdle()
		case interface{ WaitIdle() }:
			rt.WaitIdle()
		}
		return cond()
	}, "%s", what)
}

// status returns tk's status, failing the test if it cannot be read.
func status[O any](h *harness, tk *interp.Handle[O]) task.Status {
	h.t.Helper()
	s, err := tk.Status()
	if err != nil {
		h.t.Fatalf("status of task %s: %v", tk.ID(), err)
	}
	return s
}

// exitReason returns the reason of err, which must be an *ExitError.
func exitReason(h *harness, err error) string {
	h.t.Helper()
	var ee *effect.ExitError
	if !errors.As(err, &ee) {
		h.t.Fatalf("want an *effect.ExitError, got %v (%T)", err, err)
	}
	return ee.Reason
}

// replayStarted replays the record of every task the case started that
// did not fail: a task killed by an exit signal, or failed, may have been
// stopped between its journal's ops.
func (h *harness) replayStarted() {
	h.t.Helper()
	for _, tk := range h.started {
		res, err, done := tk.Result()
		if done && err != nil && status(h, tk) != task.Cancelled {
			continue
		}
		rec, rerr := tk.Record()
		if rerr != nil {
			h.t.Errorf("record of task %s: %v", tk.ID(), rerr)
			continue
		}
		r, rerr := interp.ReplayRecord(h.ctx, rec, interp.WithRegistry(h.reg))
		if rerr != nil {
			h.t.Errorf("replaying task %s: %v", tk.ID(), rerr)
			continue
		}
		if !reflect.DeepEqual(r.Journal, rec.Journal) && !(len(r.Journal) == 0 && len(rec.Journal) == 0) {
			h.t.Errorf("replaying task %s: the replay consumed\n%v\nnot the recorded\n%v", tk.ID(), r.Journal, rec.Journal)
		}
		switch {
		case !done || err != nil: // running, or cancelled where it waited
			if r.Done {
				h.t.Errorf("replaying task %s (%s): the replay finished (%v, %v), the task did not", tk.ID(), rec.Status, r.Result, r.Err)
			}
		case !r.Done:
			h.t.Errorf("replaying task %s: the replay did not finish; pending %v", tk.ID(), r.Pending)
		case r.Err != nil || fmt.Sprint(r.Result) != fmt.Sprint(res):
			h.t.Errorf("replaying task %s: got %v, %v; the task returned %v", tk.ID(), r.Result, r.Err, res)
		}
	}
}

// distinct reports whether xs holds no value twice.
func distinct(xs []string) bool {
	s := slices.Clone(xs)
	slices.Sort(s)
	return len(slices.Compact(s)) == len(xs)
}

// shortly is a delay for the programs of the runtime cases that must
// wait for real time under Live and Durable: short, since it is waited
// for in real time there, and only an order matters.
const shortly = time.Millisecond

func runtimeCases() []runtimeCase {
	return slices.Concat(processCases(), lifecycleCases())
}
