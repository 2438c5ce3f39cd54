package interp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/task"
)

// ErrSandboxBudget is the failure of a program that issued more ops in a
// sandbox than it may (Sandbox), or ran past its context: a candidate
// that loops must not hold a shadow's goroutine for ever.
var ErrSandboxBudget = errors.New("interp: sandbox: the program issued too many ops or ran out of time")

// ErrCaptured is the failure of an op that a sandbox (Sandbox) can
// neither answer from its recording nor perform, nor pretend to have
// performed: a Receive, a ContinueAsNew. The op is in the trace,
// captured; nothing was done.
var ErrCaptured = errors.New("interp: op captured by the sandbox: not in the recording and not safe to perform")

// TraceSource says how a sandbox answered an op.
type TraceSource uint8

// The ways a sandbox answers an op.
const (
	// Recorded: answered with the result of the matching op of the
	// recording (same kind and fingerprint, first unused one).
	Recorded TraceSource = iota + 1
	// Performed: done for real, being harmless or marked safe (Log, Now,
	// Random, Self, a read of state, an op with a handler given to the
	// sandbox).
	Performed
	// Captured: a write (Send, Spawn, process ops, a state write, an
	// activity not marked safe) kept in the trace and never performed.
	Captured
)

// String names the source: "recorded", "performed", "captured".
func (s TraceSource) String() string {
	switch s {
	case Recorded:
		return "recorded"
	case Performed:
		return "performed"
	case Captured:
		return "captured"
	}
	return "TraceSource(" + strconv.Itoa(int(s)) + ")"
}

// TraceOp is one op of a trace: what a program asked for, in order.
type TraceOp struct {
	// Kind and Op are the op's kind and canonical encoding (as in a
	// journal entry); Fingerprint identifies it.
	Kind        string
	Op          []byte
	Fingerprint uint64
	// Source says how the sandbox answered it (zero in a trace taken from
	// a journal).
	Source TraceSource
}

// String renders the op readably.
func (o TraceOp) String() string { return render(o.Kind, o.Op) }

// TraceOf is the trace of a journal: its ops, in order.
func TraceOf(j task.Journal) []TraceOp {
	out := make([]TraceOp, len(j))
	for i, en := range j {
		out[i] = TraceOp{Kind: en.Kind, Op: en.Op, Fingerprint: en.Fingerprint}
	}
	return out
}

// SandboxResult is what a program did in a sandbox.
type SandboxResult struct {
	// Done reports whether the program finished; Result and Err are then
	// its outcome.
	Done   bool
	Result any
	Err    error
	// Trace is every op the program issued, in order, with how it was
	// answered.
	Trace []TraceOp
	// Captured counts the captured ops (writes).
	Captured int
}

// Sandbox runs prog where it cannot touch the world: the port of the
// shadow sandbox. An op that matches an op of rec (same kind and
// fingerprint; each recorded op answers once, in order) gets the recorded
// result; Log (written to the logger of WithLogger only), Now, Random,
// Self, Sleep (on a virtual clock) and reads of state are performed; an op
// with a handler given by WithHandlers is performed by it (mark safe the
// reads that may be called twice that way); every other op is captured:
// Send, Spawn, the process ops, state writes, Atomically and the
// activities and handled ops not marked safe succeed with a zero result
// (the trace shows them captured, and a comparison with the primary's
// trace finds them); Receive and ContinueAsNew fail with ErrCaptured. The
// Mock options apply (WithRegistry decodes recorded errors). Sandbox never
// fails because of the program: a program that panics, waits forever,
// issues more than 10 ops per recorded op plus 10,000, or runs past ctx,
// ends with an error in the result (ErrSandboxBudget for the last two).
func Sandbox[A any](ctx context.Context, prog effect.Eff[A], rec task.Journal, opts ...MockOption) (res *SandboxResult, err error) {
	cfg := newConfig(append([]MockOption{WithSeed(0), WithStartTime(time.Now())}, opts...), MockOption.mockOption)
	if !cfg.loggerSet {
		cfg.logger = nil
	}
	cfg.routes = nil // a routed call inside the sandbox runs its default version
	mock := newMock(cfg)
	sp := &sandboxPort{rec: rec, used: make([]bool, len(rec)), e: mock.e, ctx: ctx, budget: 10*len(rec) + 10000}
	mock.e.port = sp
	t, err := mock.e.newTask("sandbox", nil, nil, effect.NewMachine(prog))
	if err != nil {
		return nil, err
	}
	t.rareState().answer = sp
	t.record = false
	sp.t = t
	res = &SandboxResult{}
	defer func() {
		// The program's own code runs here (tree-style continuations):
		// a panic in it is the candidate's failure, never the caller's.
		if r := recover(); r != nil {
			res.Trace, res.Captured = sp.trace, sp.captured
			res.Done, res.Err = true, fmt.Errorf("interp: sandbox: the program panicked: %v", r)
			err = nil
		}
	}()
	mock.e.launch(t, nil)
	werr := mock.await(ctx, t)
	res.Trace, res.Captured = sp.trace, sp.captured
	if werr != nil {
		res.Err = werr
		return res, nil
	}
	v, rerr, _ := t.outcome()
	res.Done, res.Result, res.Err = true, v, rerr
	return res, nil
}

// answerer is the optional capability of a port that answers ops before
// the engine performs them (the sandbox).
type answerer interface {
	// answer returns the outcome of p and true, or false to let the
	// engine perform p (through the port's other methods for those that
	// reach outside the task).
	answer(t *proc, p effect.Pending) (v any, err error, ok bool)
}

// sandboxPort is the port of the shadow sandbox (Sandbox).
type sandboxPort struct {
	e        *engine
	ctx      context.Context
	budget   int // ops the program may still issue
	t        *proc
	rec      task.Journal
	used     []bool
	trace    []TraceOp
	captured int
	spawned  int
}

var (
	_ port     = (*sandboxPort)(nil)
	_ answerer = (*sandboxPort)(nil)
)

func (s *sandboxPort) answer(t *proc, p effect.Pending) (any, error, bool) {
	if s.budget--; s.budget < 0 || s.ctx.Err() != nil {
		// The program ends here, whatever it does with errors.
		t.fail(fmt.Errorf("%w (%d ops)", ErrSandboxBudget, len(s.trace)))
		return nil, ErrSandboxBudget, true
	}
	kind, data, fp, err := task.EncodeOp(p.Op)
	if err != nil {
		s.trace = append(s.trace, TraceOp{Kind: task.OpKind(p.Op), Source: Captured})
		s.captured++
		return nil, fmt.Errorf("interp: sandbox: op %T cannot be encoded: %w", p.Op, err), true
	}
	op := TraceOp{Kind: kind, Op: data, Fingerprint: fp}
	for i, en := range s.rec {
		if s.used[i] || en.Kind != kind || en.Fingerprint != fp {
			continue
		}
		s.used[i] = true
		op.Source = Recorded
		s.trace = append(s.trace, op)
		v, err := s.e.cfg.registry.Outcome(p.Op, en)
		return v, err, true
	}
	switch o := p.Op.(type) {
	case effect.LogOp, effect.NowOp, effect.RandomOp, effect.SelfOp, effect.PatchOp, effect.SleepOp, RouteOp:
		op.Source = Performed
	case effect.SendOp, effect.SpawnOp, effect.LinkOp, effect.UnlinkOp, effect.TrapExitsOp, effect.MonitorOp,
		effect.DemonitorOp, effect.TakeNameOp, effect.WhereIsOp, effect.KillOp:
		op.Source = Captured // the port methods below capture it
	case effect.ContinueAsNewOp, effect.Receiver:
		return s.capture(op, ErrCaptured)
	case effect.Transactor:
		if _, writes := o.(effect.ContextTransactor); writes {
			return s.capture(op, nil)
		}
		op.Source = Performed // a read of state
	default:
		if _, safe := s.e.cfg.handlers.Lookup(p.Op); !safe {
			return s.capture(op, nil)
		}
		op.Source = Performed
	}
	if op.Source == Captured {
		s.captured++
	}
	s.trace = append(s.trace, op)
	return nil, nil, false
}

func (s *sandboxPort) capture(op TraceOp, err error) (any, error, bool) {
	op.Source = Captured
	s.trace = append(s.trace, op)
	s.captured++
	return nil, err, true
}

func (s *sandboxPort) send(*proc, string, any, *worker) error { return nil }

func (s *sandboxPort) signal(*proc, string, *procSignal, *worker) error { return nil }

func (s *sandboxPort) spawn(*proc, effect.SpawnOp, *worker) (string, error) {
	s.spawned++
	return "sandbox-captured-" + strconv.Itoa(s.spawned), nil
}

func (s *sandboxPort) process(*proc, effect.Pending, *worker) (any, error) { return nil, nil }

func (s *sandboxPort) transact(_ *proc, _ effect.Pending, op effect.Transactor) (any, *stm.Wait, bool, error) {
	// Only reads get here (answer captures the writes).
	r, wait, err := op.Transact()
	return r, wait, false, err
}

func (s *sandboxPort) startActivity(_ *proc, start func()) { start() }

func (s *sandboxPort) took(*proc, int) {}

func (s *sandboxPort) restarted(*proc, []byte, int) {}
