package interp

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// Sim is the deterministic simulation interpreter, for property tests:
// many tasks under a seeded scheduler, a virtual clock, and injected
// faults. Like the Mock it is single-threaded, runs handlers and
// activities inline, seeds Random, and always records journals; unlike
// the Mock, which runs the oldest runnable task until it blocks, the Sim
// interleaves tasks op by op, and at every step a Chooser picks which of
// the runnable tasks completes its next op (or which message in transit
// is delivered). The same seed, or the same sequence of choices, gives
// the same run, byte for byte: the same journals, the same results.
//
// Faults, explicit or drawn from the Chooser with the probabilities of
// SimOptions:
//
//   - Crash(id) drops a task's in-memory state (its machine, its fibers,
//     its timers and waits) and rebuilds it from what a store would hold:
//     its program, its encoded input, its journal, its mailbox and the
//     state of its timers and retries. The program runs again from its
//     input, fed the journaled results, and goes on where the journal
//     ends. Only tasks that run a named program (StartProgram, Spawn) can
//     be rebuilt.
//   - CrashAll crashes the whole runtime: every unfinished named task is
//     rebuilt that way. Tasks running anonymous programs, which no store
//     could hold, are left running.
//   - With DelayProb, a message one task sends another may be held in
//     transit and delivered at a later step of the Chooser's choosing, so
//     messages from different senders are reordered; messages from one
//     sender to one receiver stay in order, as in Erlang. The Send itself
//     succeeds at once (it fails only if the receiver does not exist or
//     has finished); a held message whose receiver finishes before its
//     delivery is dropped. Messages sent from outside (Sim.Send) are
//     delivered at once.
//
// Completing the journaled ops one at a time is what makes the model
// sound: a crash falls between two ops, each completed op is as if
// committed, and a rebuilt task never performs a journaled op twice.
//
// A property test drives the Chooser from rapid, so that a failing run
// shrinks to a small schedule, and prints Schedule:
//
//	type draws struct{ t *rapid.T }
//
//	func (d draws) Intn(n int) int { return rapid.IntRange(0, n-1).Draw(d.t, "choice") }
//
//	rapid.Check(t, func(rt *rapid.T) {
//		sim := interp.NewSim(0, interp.WithSimOptions(interp.SimOptions{
//			Chooser: draws{rt}, CrashProb: 0.05, DelayProb: 0.3}))
//		... start tasks, Wait for them ...
//		if broken {
//			rt.Fatalf("invariant broken; schedule: %s", sim.Schedule())
//		}
//	})
//
// A Sim's methods may be called from one goroutine at a time.
type Sim struct {
	e       *engine
	clk     *virtualClock
	t0      time.Time
	opt     SimOptions
	chooser Chooser

	mu      sync.Mutex // guards runq, nrun, tasks and order (pushes may come from STM commits)
	runq    []uint64   // runnable tasks: bit seq%64 of word seq/64 is set
	nrun    int        // runnable tasks: the bits set in runq
	tasks   map[*proc]*simTask
	order   []*simTask // every task, oldest first
	links   map[[2]string]*simLink
	transit []*simLink // links with messages in transit, in the order they filled

	ownChooser   bool // chooser is the PCG of NewSim: it never calls out
	steps        uint64
	lastCrashAll uint64
	crashedAll   bool
	linkList     []*simLink      // every link, by idx
	trace        [][]simEvent    // in chunks of growing size, so that a long trace is not copied
	traceLen     int             // events in trace
	lastEvent    *simEvent       // the last event of trace (chunks do not move)
	clocks       []time.Duration // the times of the clock events, since the start
	traceLost    int
}

// Chooser makes the simulator's choices: Intn returns a number in [0, n).
// Whenever several tasks are runnable (or messages are in transit),
// the simulator asks it which goes next, numbering runnable tasks first,
// oldest first, then the links with messages in transit, then, if every
// task is blocked, the clock. Fault probabilities are drawn from it too,
// so that a choice of 0 is always the fault-free, oldest-first one: the
// direction in which rapid shrinks.
type Chooser interface {
	// Intn returns a choice in [0, n).
	Intn(n int) int
}

// SimOptions tunes the simulator. The zero value schedules tasks from a
// PCG generator seeded with the Sim's seed and injects no faults.
type SimOptions struct {
	// Chooser makes the scheduling choices (default: PCG seeded with the
	// seed given to NewSim).
	Chooser Chooser
	// CrashProb is the probability, at each step, that the task about to
	// step is crashed first (and rebuilt from its journal). A task is not
	// crashed again before it completes another op.
	CrashProb float64
	// CrashAllProb is the probability, at each step, that the whole
	// runtime crashes first. It does not crash twice without an op
	// completed in between.
	CrashAllProb float64
	// DelayProb is the probability that a message sent from one task to
	// another is held in transit instead of being delivered at once.
	// A held message arrives at a later step of the Chooser's choosing.
	DelayProb float64
	// MaxDelay is how much virtual time may pass while a message is held
	// in transit: when every task is blocked, the Chooser may fire a timer
	// before delivering the held messages if it comes due within MaxDelay
	// of their sending. Zero (the default) delays messages by steps only,
	// never past a timer.
	MaxDelay time.Duration
}

// WithSimOptions sets the simulator's scheduling and faults.
func WithSimOptions(o SimOptions) SimOption { return simOnly(func(c *config) { c.sim = o }) }

type simTask struct {
	t         *proc
	seq       int32
	ops       uint64 // live ops completed
	crashedAt uint64 // ops when last crashed
	crashed   bool
}

type simLink struct {
	idx      int32
	from, to string
	q        []heldMsg
}

type heldMsg struct {
	msg  any
	sent time.Time
}

type pcgChooser struct{ r *rand.Rand }

func (c pcgChooser) Intn(n int) int { return c.r.IntN(n) }

// NewSim returns a simulator whose choices, and every task's Random,
// derive from seed.
func NewSim(seed uint64, opts ...SimOption) *Sim {
	cfg := newConfig(append([]SimOption{WithSeed(seed)}, opts...), SimOption.simOption)
	if !cfg.loggerSet {
		cfg.logger = nil
	}
	cfg.journal = true
	start := cfg.start
	if start.IsZero() {
		start = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	s := &Sim{clk: &virtualClock{now: start.UTC()}, t0: start.UTC(), opt: cfg.sim, tasks: map[*proc]*simTask{}}
	s.chooser = cfg.sim.Chooser
	if s.chooser == nil {
		s.chooser = pcgChooser{rand.New(rand.NewPCG(seed, 0x5eed5c4ed))}
		s.ownChooser = true
	}
	s.e = newEngine(cfg, s.clk, false)
	s.e.sched = s
	s.e.stepwise = true
	if cfg.sim.DelayProb > 0 {
		s.links = map[[2]string]*simLink{}
		s.e.port = simPort{memPort{s.e}, s}
	}
	return s
}

func (s *Sim) base() *engine { return s.e }

// Send puts msg in the mailbox of task to, at once.
func (s *Sim) Send(to string, msg any) error { return s.e.send(to, msg, nil) }

// Now returns the virtual time.
func (s *Sim) Now() time.Time { return s.clk.now }

// Steps returns the number of ops completed so far (replayed ones not
// counted).
func (s *Sim) Steps() uint64 { return s.steps }

// push makes t runnable: it joins the run queue in the order of its
// creation, whatever the order of the calls (STM wake-ups come in no
// particular order).
func (s *Sim) push(t *proc, _ *worker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.tasks[t]
	if st == nil {
		st = &simTask{t: t, seq: int32(len(s.order))}
		s.tasks[t] = st
		s.order = append(s.order, st)
	}
	w, bit := int(st.seq>>6), uint64(1)<<(st.seq&63)
	for len(s.runq) <= w {
		s.runq = append(s.runq, 0)
	}
	if s.runq[w]&bit == 0 {
		s.runq[w] |= bit
		s.nrun++
	}
}

func (s *Sim) unqueue(st *simTask) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, bit := int(st.seq>>6), uint64(1)<<(st.seq&63)
	if w < len(s.runq) && s.runq[w]&bit != 0 {
		s.runq[w] &^= bit
		s.nrun--
	}
}

// runnable returns the i-th oldest runnable task, i < s.nrun. s.mu held.
func (s *Sim) runnable(i int) *simTask {
	for w, word := range s.runq {
		if c := bits.OnesCount64(word); i >= c {
			i -= c
			continue
		}
		for ; i > 0; i-- {
			word &= word - 1 // drop the lowest bit set
		}
		return s.order[w<<6|bits.TrailingZeros64(word)]
	}
	panic("interp: Sim run queue: no runnable task " + strconv.Itoa(i))
}

func (s *Sim) choose(n int) int {
	i := s.chooser.Intn(n)
	if i < 0 || i >= n {
		panic(fmt.Sprintf("interp: Chooser.Intn(%d) returned %d", n, i))
	}
	return i
}

// chance draws a fault of probability p; a draw of 0 is no fault.
func (s *Sim) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	const scale = 1 << 20
	return s.choose(scale) >= scale-int(p*scale)
}

// Step makes one choice of the schedule (a task completes an op, or a
// message in transit is delivered) without moving the clock. It reports
// false if nothing could happen.
func (s *Sim) Step() bool { return s.stepOnce(false) }

// Tasks returns every task of the simulation, oldest first.
func (s *Sim) Tasks() []*Handle[any] {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Handle[any], len(s.order))
	for i, st := range s.order {
		out[i] = &Handle[any]{st.t}
	}
	return out
}

// RunUntilIdle steps tasks and delivers messages until nothing can happen
// without the clock moving. It returns the number of steps taken.
func (s *Sim) RunUntilIdle() int {
	n := 0
	for s.stepOnce(false) {
		n++
	}
	return n
}

// Advance moves the virtual clock forward by d, firing the timers that
// come due in order and running what they wake.
func (s *Sim) Advance(d time.Duration) {
	target := s.clk.now.Add(d)
	s.RunUntilIdle()
	for s.clk.fireBefore(target) {
		s.clockEvent()
		s.RunUntilIdle()
	}
	if target.After(s.clk.now) {
		s.clk.now = target
	}
	s.RunUntilIdle()
}

func (s *Sim) await(ctx context.Context, t *proc) error {
	for i := 0; ; i++ {
		select {
		case <-t.done:
			return nil
		default:
		}
		if i&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if s.stepOnce(true) {
			continue
		}
		if s.clk.fireNext() {
			s.clockEvent()
			continue
		}
		return fmt.Errorf("%w; waiting for task %s: %s", ErrDeadlock, t.id, describePending(t))
	}
}

func describePending(t *proc) string {
	var parts []string
	for _, p := range t.m.Pending() {
		parts = append(parts, fmt.Sprintf("fiber %d waits on %T", p.Fiber, p.Op))
	}
	if len(parts) == 0 {
		return "nothing pending"
	}
	return strings.Join(parts, ", ")
}

// stepOnce makes one choice: a runnable task completes an op, a message
// in transit is delivered, or (if allowClock and every task is blocked
// while messages are in transit) the clock moves to the next timer before
// they arrive. It reports false if there was nothing to choose.
func (s *Sim) stepOnce(allowClock bool) bool {
	if s.opt.CrashAllProb > 0 && (!s.crashedAll || s.steps > s.lastCrashAll) && s.hasWork() && s.chance(s.opt.CrashAllProb) {
		_ = s.CrashAll()
	}
	s.mu.Lock()
	nr, nl := s.nrun, len(s.transit)
	i := -1
	var st *simTask
	if nr > 0 && (nr+nl == 1 || s.ownChooser) {
		// The clock is not a choice, and the choice calls nothing outside
		// the simulator (that could call back into it): make it under the
		// lock, and take the task with it.
		i = 0
		if nr+nl > 1 {
			i = s.choose(nr + nl)
		}
		if i < nr {
			st = s.runnable(i)
		}
	}
	s.mu.Unlock()
	if i < 0 {
		n := nr + nl
		if allowClock && nr == 0 && nl > 0 && s.timerWithinDelay() {
			n++
		}
		if n == 0 {
			return false
		}
		i = 0
		if n > 1 {
			i = s.choose(n)
		}
	}
	switch {
	case i < nr:
		if st == nil {
			s.mu.Lock()
			st = s.runnable(i)
			s.mu.Unlock()
		}
		if s.opt.CrashProb > 0 && st.t.prog != nil && (!st.crashed || st.ops > st.crashedAt) && s.chance(s.opt.CrashProb) {
			_ = s.crash(st)
		}
		s.stepTask(st)
	case i < nr+nl:
		s.deliver(i - nr)
	default:
		s.clk.fireNext()
		s.clockEvent()
	}
	return true
}

// timerWithinDelay reports whether the next timer comes due within
// MaxDelay of the sending of every message in transit.
func (s *Sim) timerWithinDelay() bool {
	if s.opt.MaxDelay <= 0 || !s.clk.hasTimer() {
		return false
	}
	next := s.clk.timers[0].at
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.transit {
		if next.After(l.q[0].sent.Add(s.opt.MaxDelay)) {
			return false
		}
	}
	return true
}

func (s *Sim) hasWork() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nrun > 0 || len(s.transit) > 0
}

// stepTask activates the task once: it takes its new messages and events,
// replays its journal if it was rebuilt, and completes at most one live op.
func (s *Sim) stepTask(st *simTask) {
	t := st.t
	t.stepMu.Lock()
	evs, live, ended := t.takeInbox()
	if !live {
		t.stepMu.Unlock()
		if ended {
			s.event(simEvent{kind: evStep, a: st.seq})
		}
		s.unqueue(st)
		return
	}

	completed, replayed, runs := t.completed, t.replayPos, t.runs
	for _, ev := range evs {
		t.applyEvent(ev)
	}
	t.run(nil)
	var n uint64
	if t.runs != runs {
		n = 1
	} else {
		n = (t.completed - completed) - uint64(t.replayPos-replayed)
	}
	st.ops += n
	s.steps += n
	s.event(simEvent{kind: evStep, a: st.seq})

	more := s.ready(t)
	if !more {
		t.mu.Lock()
		if t.finished || len(t.inbox) == 0 && len(t.events) == 0 {
			t.unschedule()
		} else {
			more = true
		}
		t.mu.Unlock()
	}
	t.stepMu.Unlock()
	if !more {
		s.unqueue(st)
	}
}

// ready reports whether t has an op that can complete now. On the way it
// starts the ops that cannot (timers, receives with no message to take),
// so that a task is runnable only if its next step does something.
func (s *Sim) ready(t *proc) bool {
	if t.m.Done() {
		return false
	}
	if t.replayPos < len(t.replay) {
		return true
	}
	for _, p := range t.m.Pending() {
		if j := t.flightIndex(p.ID); j >= 0 {
			if t.inflight[j].receive && hasMatch(t.mailbox, p.Op.(effect.Receiver)) {
				return true
			}
			continue
		}
		switch op := p.Op.(type) {
		case effect.SleepOp:
			if op.Duration > 0 {
				t.perform(p, nil)
				continue
			}
		case effect.Receiver:
			if !hasMatch(t.mailbox, op) {
				t.perform(p, nil)
				continue
			}
		}
		return true
	}
	return false
}

func hasMatch(mailbox []any, r effect.Receiver) bool {
	for _, msg := range mailbox {
		if r.Accepts(msg) {
			return true
		}
	}
	return false
}

// simPort is the Sim's port when it delays messages: messages and exit
// signals between tasks travel through the Sim's links, where the Chooser
// decides when each arrives (in order per sender and receiver).
type simPort struct {
	memPort
	s *Sim
}

func (p simPort) send(from *proc, to string, msg any, _ *worker) error {
	return p.s.send(from, to, msg)
}

func (p simPort) signal(from *proc, to string, sig *procSignal, _ *worker) error {
	return p.s.send(from, to, sig)
}

// send holds a message from one task to another in transit, or delivers
// it at once.
func (s *Sim) send(from *proc, to string, msg any) error {
	target := s.e.lookup(to)
	if target == nil {
		return &NoTaskError{ID: to}
	}
	target.mu.Lock()
	finished := target.finished
	target.mu.Unlock()
	if finished {
		return &NoTaskError{ID: to, Finished: true}
	}
	key := [2]string{from.id, to}
	l := s.links[key]
	if (l == nil || len(l.q) == 0) && !s.chance(s.opt.DelayProb) {
		return s.e.send(to, msg, nil)
	}
	if l == nil {
		l = &simLink{idx: int32(len(s.linkList)), from: from.id, to: to}
		s.links[key] = l
		s.linkList = append(s.linkList, l)
	}
	if len(l.q) == 0 {
		s.mu.Lock()
		s.transit = append(s.transit, l)
		s.mu.Unlock()
	}
	l.q = append(l.q, heldMsg{msg, s.clk.now})
	return nil
}

// deliver delivers the oldest message in transit on link i.
func (s *Sim) deliver(i int) {
	s.mu.Lock()
	l := s.transit[i]
	msg := l.q[0].msg
	l.q[0] = heldMsg{}
	l.q = l.q[1:]
	if len(l.q) == 0 {
		l.q = nil
		s.transit = append(s.transit[:i], s.transit[i+1:]...)
	}
	s.mu.Unlock()
	kind := evDeliver
	if s.e.send(l.to, msg, nil) != nil {
		kind = evDrop
	}
	s.event(simEvent{kind: kind, a: l.idx})
}

// Crash crashes task id: its in-memory state is dropped and it is rebuilt
// from its program, input, journal, mailbox and timers, as a durable
// runtime would load it; it replays its journal the next time it steps.
// Crashing a finished task does nothing.
func (s *Sim) Crash(id string) error {
	t := s.e.lookup(id)
	if t == nil {
		return &NoTaskError{ID: id}
	}
	s.mu.Lock()
	st := s.tasks[t]
	s.mu.Unlock()
	if st == nil {
		return &NoTaskError{ID: id}
	}
	return s.crash(st)
}

// CrashAll crashes the whole runtime: every unfinished task that runs a
// named program is rebuilt from its journal (see Crash). Messages in
// transit survive: their Sends completed, so a store holds them.
func (s *Sim) CrashAll() error {
	s.mu.Lock()
	order := append([]*simTask(nil), s.order...)
	s.mu.Unlock()
	s.event(simEvent{kind: evCrashAll})
	s.crashedAll, s.lastCrashAll = true, s.steps
	var errs []error
	for _, st := range order {
		if st.t.prog == nil {
			continue
		}
		if err := s.rebuild(st); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Sim) crash(st *simTask) error {
	if st.t.prog == nil {
		return fmt.Errorf("interp: task %s runs an anonymous program and cannot be rebuilt; start it with StartProgram", st.t.id)
	}
	s.event(simEvent{kind: evCrash, a: st.seq})
	return s.rebuild(st)
}

func (s *Sim) rebuild(st *simTask) error {
	t := st.t
	t.stepMu.Lock()
	t.mu.Lock()
	if t.finished {
		t.mu.Unlock()
		t.stepMu.Unlock()
		return nil
	}
	t.mu.Unlock()
	in, err := task.DecodeInput(t.prog, t.in)
	var m *effect.Machine
	if err == nil {
		m, err = t.prog.Start(in)
	}
	if err != nil {
		t.stepMu.Unlock()
		return fmt.Errorf("interp: rebuilding task %s: %w", t.id, err)
	}
	for _, fl := range t.inflight {
		if fl.stop != nil {
			fl.stop()
		}
	}
	t.m.Stop()
	t.mu.Lock()
	// What a store holds: the entries replayed or recorded so far, and
	// those of an earlier rebuild that the task has not replayed yet (a
	// second crash before it stepped).
	j := t.journal
	if t.moreLen > 0 || t.replayPos < len(t.replay) {
		j = append(t.entries(), t.replay[t.replayPos:]...)
	}
	t.journal, t.more, t.moreLen = nil, nil, 0
	// Drop the completions addressed to the old machine's ops; keep a
	// Cancel not yet taken, which a store would hold.
	kept := t.events[:0]
	for _, ev := range t.events {
		if ev.cancel {
			kept = append(kept, ev)
		}
	}
	t.events = kept
	wake := t.wake()
	t.mu.Unlock()
	t.m, t.inflight, t.failure = m, nil, nil
	t.replay, t.replayPos, t.completed = j, 0, 0
	st.crashed, st.crashedAt = true, st.ops
	t.stepMu.Unlock()
	if wake {
		s.push(t, nil)
	}
	return nil
}

func (c *virtualClock) hasTimer() bool {
	for c.timers.Len() > 0 && c.timers[0].stopped {
		heap.Pop(&c.timers)
	}
	return c.timers.Len() > 0
}

// The schedule, as a trace of events.

const maxTrace = 100_000

const (
	evStep uint8 = iota
	evDeliver
	evDrop
	evCrash
	evCrashAll
	evClock
)

// simEvent is one event of the trace, kept small: a names a task (by
// its creation number), a link, or the time of a clock event (an index in
// Sim.clocks).
type simEvent struct {
	a    int32
	n    uint32
	kind uint8
}

// clockEvent records that the clock moved.
func (s *Sim) clockEvent() {
	if s.traceLen >= maxTrace {
		s.traceLost++
		return
	}
	s.clocks = append(s.clocks, s.clk.now.Sub(s.t0))
	s.event(simEvent{kind: evClock, a: int32(len(s.clocks) - 1)})
}

// Trace chunks: the first holds minTraceChunk events, each next one twice
// its predecessor's, up to maxTraceChunk.
const (
	minTraceChunk = 64
	maxTraceChunk = 4096
)

func (s *Sim) event(ev simEvent) {
	if last := s.lastEvent; last != nil && ev.kind == evStep && last.kind == evStep && last.a == ev.a {
		last.n++
		return
	}
	if s.traceLen >= maxTrace {
		s.traceLost++
		return
	}
	ev.n = 1
	k := len(s.trace)
	if k == 0 || len(s.trace[k-1]) == cap(s.trace[k-1]) {
		size := minTraceChunk
		if k > 0 {
			size = min(2*cap(s.trace[k-1]), maxTraceChunk)
		}
		s.trace = append(s.trace, make([]simEvent, 0, size))
		k++
	}
	s.trace[k-1] = append(s.trace[k-1], ev)
	s.lastEvent = &s.trace[k-1][len(s.trace[k-1])-1]
	s.traceLen++
}

// Schedule renders the run so far, for a failing property test to print:
// the tasks in the order they stepped ("t1×3" is three steps of t1 in a
// row), and the faults and deliveries between them:
//
//	t1 t2×2 deliver(t1→t3) crash(t2) t2 t3 clock(+5ms) t1
func (s *Sim) Schedule() string {
	var b strings.Builder
	i := 0
	for _, c := range s.trace {
		for _, ev := range c {
			if i > 0 {
				b.WriteByte(' ')
			}
			i++
			s.render(&b, ev)
		}
	}
	if s.traceLost > 0 {
		fmt.Fprintf(&b, " … and %d more events", s.traceLost)
	}
	return b.String()
}

// render writes ev as Schedule shows it.
func (s *Sim) render(b *strings.Builder, ev simEvent) {
	switch ev.kind {
	case evStep:
		b.WriteString(s.order[ev.a].t.id)
		if ev.n > 1 {
			b.WriteString("×" + strconv.Itoa(int(ev.n)))
		}
	case evDeliver:
		b.WriteString("deliver(" + s.linkList[ev.a].from + "→" + s.linkList[ev.a].to + ")")
	case evDrop:
		b.WriteString("drop(" + s.linkList[ev.a].from + "→" + s.linkList[ev.a].to + ")")
	case evCrash:
		b.WriteString("crash(" + s.order[ev.a].t.id + ")")
	case evCrashAll:
		b.WriteString("crash-all")
	case evClock:
		b.WriteString("clock(+" + s.clocks[ev.a].String() + ")")
	}
}
