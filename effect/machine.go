package effect

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
)

// FiberID names a fiber of one task. The root program runs on fiber 0;
// Par and Race start one fiber per branch, numbered in creation order, so
// the numbering is deterministic.
type FiberID uint32

// Pending is an op that a fiber of a Machine is waiting on. The interpreter
// that drives the Machine performs the op and reports its outcome with
// Resume, ResumeDecode or Fail, quoting the ID.
type Pending struct {
	// ID is unique within the Machine and increases in the order the ops
	// were issued.
	ID uint64
	// Fiber is the fiber that issued the op.
	Fiber FiberID
	// Op is the op value, for example NowOp{} or a user's GetUser{ID: "7"}.
	Op any
	// f is the fiber that issued the op, for the Machine.
	f *fiber
}

// Machine steps one program (one task) from op to op. It holds the
// program's continuation explicitly, as a stack of frames per fiber, so
// that deep chains of binds need no Go stack, and it never performs an op
// itself: that is the interpreter's job.
//
// A Machine is not safe for concurrent use; an interpreter drives each
// Machine from one goroutine at a time.
//
// The driving loop of an interpreter looks like this:
//
//	m := effect.NewMachine(prog)
//	for !m.Done() {
//		p := m.Pending()[0]          // choose a pending op
//		v, err := perform(p.Op)     // do it
//		if err != nil { m.Fail(p.ID, err) } else { m.Resume(p.ID, v) }
//	}
//	result, err := m.Result()
type Machine struct {
	runq      []runItem
	runHead   int
	pend      []Pending
	nextOp    uint64
	nextFiber FiberID
	root      *fiber
	// work is the Ctx of a direct-style body that CallResume resumed and
	// that handed back work (see Ctx.handBack): the Machine does it at
	// its next method call (sync).
	work   *Ctx
	steps  uint64
	done   bool
	result any
	err    error
}

type runItem struct {
	f *fiber
	n node
}

type fiber struct {
	id    FiberID
	stack []any
	// call is the Ctx of the fiber's direct-style body if the fiber
	// waits on its op in Call, nil if it suspended on an op's step
	// (suspend): settle hands the result to the body, and Fail its
	// failure. Its frames stay as they were (Call pushes none). It is
	// meaningful only while the fiber's op is pending: set at each
	// suspension, it is not cleared when the op is taken.
	call      *Ctx
	done      bool
	cancelled bool
}

// cont is a frame that accepts a value of type A.
type cont[A any] interface {
	resume(m *Machine, f *fiber, v A) node
}

// contBox is how a cont sits on the stack. Frames are found by asserting a
// concrete type, which costs a pointer comparison, where asserting the
// generic interface cont[A] costs a hash lookup: this is the hottest path
// of the Machine. A box is embedded in the node or state that owns it, so
// pushing it does not allocate.
type contBox[A any] struct{ c cont[A] }

// catch lets failures pass unless the frame handles them.
func (b *contBox[A]) catch(m *Machine, f *fiber, err error) node {
	if h, ok := b.c.(catcher); ok {
		return h.catch(m, f, err)
	}
	return passOn
}

// passOn is what a catcher returns to let a failure unwind further.
var passOn node = &failNode{}

// catcher is a frame that handles a failure.
type catcher interface {
	catch(m *Machine, f *fiber, err error) node
}

// closer is a frame holding resources that must be released when its fiber
// is cancelled: a direct-style coroutine, or the child fibers of a Par.
type closer interface {
	close(m *Machine)
}

// NewMachine returns a Machine ready to run p. Nothing runs until Run.
func NewMachine[A any](p Eff[A]) *Machine {
	m := &Machine{}
	m.root = m.newFiber()
	m.schedule(m.root, orNil(p.n))
	return m
}

func (m *Machine) newFiber() *fiber {
	f := &fiber{id: m.nextFiber}
	m.nextFiber++
	return f
}

func (f *fiber) push(fr any) { f.stack = append(f.stack, fr) }

// top returns the innermost frame of f, or nil.
func (f *fiber) top() any {
	if len(f.stack) == 0 {
		return nil
	}
	return f.stack[len(f.stack)-1]
}

func (f *fiber) pop() any {
	n := len(f.stack) - 1
	fr := f.stack[n]
	f.stack[n] = nil
	f.stack = f.stack[:n]
	return fr
}

func (m *Machine) schedule(f *fiber, n node) {
	m.runq = append(m.runq, runItem{f, n})
}

// Run evaluates every runnable fiber until each one is finished or waits on
// an op. After Run, either Done reports true or Pending is non-empty.
//
// It is inlined: an interpreter calls it at every activation of a task,
// which nearly always finds no fiber to run (Resume ran them).
func (m *Machine) Run() {
	if m.work != nil || len(m.runq) > 0 {
		m.runAll()
	}
}

// runAll is Run's work: the work a body resumed by CallResume handed back
// (sync), then every runnable fiber.
func (m *Machine) runAll() {
	m.sync()
	for m.runHead < len(m.runq) {
		it := m.runq[m.runHead]
		m.runq[m.runHead] = runItem{}
		m.runHead++
		if !it.f.cancelled {
			m.drive(it.f, it.n)
		}
	}
	m.runq = m.runq[:0]
	m.runHead = 0
}

// drive evaluates n on f until f stops, turning a panic in user code into a
// failure of f.
func (m *Machine) drive(f *fiber, n node) {
	for n != nil {
		n = m.safeSteps(f, n)
	}
}

func (m *Machine) safeSteps(f *fiber, n node) (next node) {
	stepped := false
	defer func() {
		if !stepped { // recover only after a panic, as in deliverAndStep
			if r := recover(); r != nil {
				next = &failNode{newPanicError(r)}
			}
		}
	}()
	for n != nil {
		m.steps++
		n = n.step(m, f, n)
	}
	stepped = true
	return nil
}

// Steps returns the number of tree nodes the Machine has evaluated: a
// measure of work that does not depend on the clock.
func (m *Machine) Steps() uint64 {
	m.sync()
	return m.steps
}

// sync does the work that a body resumed by CallResume handed back, if
// any: the first thing every Machine method does. CallResume leaves it
// so that it resumes the body from its caller's frame (see CallResume).
func (m *Machine) sync() {
	if m.work != nil {
		m.flush()
	}
}

// flush is sync's work when there is some.
func (m *Machine) flush() {
	e := m.work
	m.proceed(e.f, e.takeBack())
}

// suspend parks f on the op n.
func (m *Machine) suspend(f *fiber, n any) {
	id := m.nextOp + 1
	m.nextOp = id
	f.call = nil
	// Filled in place: append of a Pending literal builds it on the
	// stack and copies it.
	i := len(m.pend)
	if i == cap(m.pend) {
		m.growPend()
	}
	m.pend = m.pend[:i+1]
	p := &m.pend[i]
	p.ID, p.Fiber, p.Op, p.f = id, f.id, n, f
}

// growPend makes room for one more pending op.
//
//go:noinline
func (m *Machine) growPend() { m.pend = slices.Grow(m.pend, 1) }

// Done reports whether the program has finished, with a result or an error.
func (m *Machine) Done() bool {
	m.sync()
	return m.done
}

// Result returns the program's result and error once Done is true.
func (m *Machine) Result() (any, error) {
	m.sync()
	if !m.done {
		return nil, ErrNotDone
	}
	return m.result, m.err
}

// Pending returns the ops the program's fibers wait on, in the order they
// were issued. The slice is owned by the Machine and valid until the next
// call of any other Machine method.
func (m *Machine) Pending() []Pending {
	m.sync()
	return m.pend
}

// Errors reported by the Machine API.
var (
	ErrNotDone    = errors.New("effect: program has not finished")
	ErrNotPending = errors.New("effect: no pending op with that ID")
	ErrCancelled  = errors.New("effect: program cancelled")
)

// ResultTypeError reports a result whose type does not match the op's.
type ResultTypeError struct {
	// Op is the op whose result was given.
	Op any
	// Want names the type the op returns.
	Want string
	// Got is the result given.
	Got any
}

// Error names the op and both types.
func (e *ResultTypeError) Error() string {
	return fmt.Sprintf("effect: op %T returns %s, got %T", e.Op, e.Want, e.Got)
}

func (m *Machine) find(id uint64) int {
	for i := range m.pend {
		if m.pend[i].ID == id {
			return i
		}
	}
	return -1
}

// take removes pending op i and returns the fiber that waits on it.
//
// The op taken is nearly always the last one (a fiber that waits alone),
// whose removal is a few stores; an op from the middle costs a call more
// (takeFrom). take itself is not inlined (cost 104 of 80): the hot path
// that must not pay its call, Handle's CallResume, writes its common case
// out.
func (m *Machine) take(i int) *fiber {
	if i != len(m.pend)-1 {
		return m.takeFrom(i)
	}
	p := &m.pend[i]
	f := p.f
	p.Op, p.f = nil, nil // ID and Fiber hold no pointers
	m.pend = m.pend[:i]
	return f
}

// takeFrom is take for an op that is not the last one.
func (m *Machine) takeFrom(i int) *fiber {
	f := m.pend[i].f
	m.pend = slices.Delete(m.pend, i, i+1)
	return f
}

// takeCall removes the pending op id. If a direct-style body waits on it
// in Call and no other fiber is runnable, it returns the body's Ctx, for
// the caller to leave the result in the Call's cell and resume the body
// (see settle); otherwise it returns the fiber that waits on the op, or
// neither if no op id is pending.
func (m *Machine) takeCall(id uint64) (*Ctx, *fiber) {
	m.sync()
	i := m.find(id)
	if i < 0 {
		return nil, nil
	}
	f := m.take(i)
	if e := f.call; e != nil && m.runHead == len(m.runq) {
		return e, nil
	}
	return nil, f
}

// Resume completes the pending op id with the value v, which must have the
// op's result type (nil stands for the zero value), and runs the program
// until it waits again or finishes.
func (m *Machine) Resume(id uint64, v any) error {
	m.sync()
	i := m.find(id)
	if i < 0 {
		return fmt.Errorf("%w: %d", ErrNotPending, id)
	}
	op := m.pend[i].Op.(opNode)
	if !op.resumeAny(m, i, v) {
		return &ResultTypeError{Op: m.pend[i].Op, Want: op.resultType(), Got: v}
	}
	return nil
}

// Resume completes the pending op id with a typed result, without boxing
// it: the fast path for interpreters that know the result type.
func Resume[R any](m *Machine, id uint64, v R) error {
	m.sync()
	i := m.find(id)
	if i < 0 {
		return fmt.Errorf("%w: %d", ErrNotPending, id)
	}
	if _, ok := m.pend[i].Op.(Op[R]); !ok {
		return &ResultTypeError{Op: m.pend[i].Op, Want: m.pend[i].Op.(opNode).resultType(), Got: v}
	}
	if e := settle(m, i, v); e != nil {
		m.proceed(e.f, e.advance())
	}
	return nil
}

// settle completes pending op i, known to return R, with v. If a
// direct-style body waits on the op, settle leaves v where the body will
// read it and returns the body's Ctx, and the caller resumes the body:
//
//	if e := settle(m, i, v); e != nil {
//		m.proceed(e.f, e.advance())
//	}
//
// Otherwise settle delivers v, runs the program until it waits again or
// finishes, and returns nil.
//
// The caller resumes the body itself so that the coroutine switch (in
// e.next) is as shallow in the Go stack as the API allows:
// every frame between an interpreter's loop and the switch costs a
// mispredicted return when the switch comes back (the CPU's return-address
// stack holds the other goroutine's calls), and on the project's machines
// those returns, not the Machine's work, were most of the cost of a
// direct-style effect. Work before the switch is done in settle, and work
// after it in advance and proceed: calls that return where the CPU
// expects. A Handler's CallResume goes further: it resumes the body from
// the interpreter's own frame, and leaves the work after the switch to
// the Machine's next method call (sync).
func settle[R any](m *Machine, i int, v R) *Ctx {
	f := m.take(i)
	if e := f.call; e != nil && m.runHead == len(m.runq) {
		setResult(e, v)
		return e
	}
	return settleSlow(m, f, v)
}

// settleSlow is settle's work when the body does not wait in Call, or
// when other fibers are runnable: it resumes the body itself (one frame
// deeper) and runs the program on.
func settleSlow[R any](m *Machine, f *fiber, v R) *Ctx {
	if e := f.call; e != nil {
		lastCell[R](e).v = v
		m.proceed(f, e.advance())
		return nil
	}
	if c, ok := f.top().(*cell[R]); ok {
		f.pop()
		c.v = v
		return c.e
	}
	m.proceed(f, deliverAndStep(m, f, v))
	return nil
}

// proceed runs f from n, if n is not nil, then every other runnable fiber.
func (m *Machine) proceed(f *fiber, n node) {
	if n != nil {
		m.drive(f, n)
	}
	if m.runHead < len(m.runq) {
		m.Run()
	}
}

// deliverAndStep delivers v to f and steps f until it stops, under one
// recover: the hot path of an interpreter, one op at a time. It returns a
// failure node if user code panicked.
func deliverAndStep[A any](m *Machine, f *fiber, v A) (next node) {
	stepped := false
	defer func() {
		// recover is called only after a panic: a call of it on every
		// op was a tenth of the Machine's cost of one.
		if !stepped {
			if r := recover(); r != nil {
				next = &failNode{newPanicError(r)}
			}
		}
	}()
	n := deliver(m, f, v)
	for n != nil {
		m.steps++
		n = n.step(m, f, n)
	}
	stepped = true
	return nil
}

// ResumeDecode completes the pending op id with a result that decode
// writes into a pointer to a fresh value of the op's result type (for
// example a CBOR decoder reading a journal). If decode fails, the op stays
// pending and the error is returned.
func (m *Machine) ResumeDecode(id uint64, decode func(ptr any) error) error {
	m.sync()
	i := m.find(id)
	if i < 0 {
		return fmt.Errorf("%w: %d", ErrNotPending, id)
	}
	return m.pend[i].Op.(opNode).decodeResume(m, i, decode)
}

// Fail completes the pending op id with an error, which the program may
// handle with Catch, and runs the program until it waits again or finishes.
func (m *Machine) Fail(id uint64, err error) error {
	m.sync()
	i := m.find(id)
	if i < 0 {
		return fmt.Errorf("%w: %d", ErrNotPending, id)
	}
	if err == nil {
		err = ErrNilError
	}
	f := m.take(i)
	if e := f.call; e != nil {
		// The body waits in Call: Call fails it.
		e.callErr = err
		m.proceed(f, e.advance())
		return nil
	}
	m.drive(f, &failNode{err})
	m.Run()
	return nil
}

// Stop cancels the program: every fiber is dropped, direct-style
// coroutines are unwound (running their deferred calls) and nothing is
// pending afterwards. A stopped Machine is Done with ErrCancelled, unless it
// had already finished.
func (m *Machine) Stop() {
	m.sync()
	if m.done {
		return
	}
	m.cancelFiber(m.root)
	// Cleared, not only cut: the ops and fibers must not stay reachable
	// from the backing arrays.
	clear(m.pend)
	clear(m.runq)
	m.pend = m.pend[:0]
	m.runq, m.runHead = m.runq[:0], 0
	m.done, m.err = true, ErrCancelled
}

func (m *Machine) cancelFiber(f *fiber) {
	if f.done || f.cancelled {
		return
	}
	f.cancelled = true
	f.call = nil
	for i := range m.pend {
		if m.pend[i].f == f {
			m.take(i)
			break
		}
	}
	for i := len(f.stack) - 1; i >= 0; i-- {
		if c, ok := f.stack[i].(closer); ok {
			c.close(m)
		}
		f.stack[i] = nil
	}
	f.stack = nil
}

// deliver passes v to the innermost frame of f that accepts values,
// skipping frames that only handle failures.
func deliver[A any](m *Machine, f *fiber, v A) node {
	for len(f.stack) > 0 {
		switch c := f.pop().(type) {
		case *contBox[A]:
			return c.c.resume(m, f, v)
		case *cell[A]:
			c.v = v
			return c.e.advance()
		}
	}
	m.finish(f, v, nil)
	return nil
}

// unwind passes err to the innermost frame of f that handles failures.
func unwind(m *Machine, f *fiber, err error) node {
	for len(f.stack) > 0 {
		if c, ok := f.pop().(catcher); ok {
			if n := c.catch(m, f, err); n != passOn {
				return n
			}
		}
	}
	m.finish(f, nil, err)
	return nil
}

// finish records the outcome of a fiber whose stack is empty: only the root
// can get there, since every other fiber has a join frame at its bottom.
func (m *Machine) finish(f *fiber, v any, err error) {
	f.done = true
	if f == m.root {
		m.done, m.result, m.err = true, v, err
	}
}

// PanicError is the failure of a program whose Go code panicked: a
// continuation, a Map function, a direct-style body. The panic is confined
// to the task; Catch can handle it like any other failure.
type PanicError struct {
	// Value is what the program panicked with.
	Value any `cbor:"1,keyasint"`
	// Stack is where the panic happened. It is not stored (a stored
	// PanicError, see task.RegisterErrorType, has none): it would make
	// journals differ from run to run.
	Stack []byte `cbor:"-"`
}

// Error renders the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("effect: panic: %v", e.Value) }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

func newPanicError(r any) error {
	if pe, ok := r.(*PanicError); ok {
		return pe
	}
	return &PanicError{Value: r, Stack: debug.Stack()}
}
