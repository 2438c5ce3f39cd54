package effect

import (
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"reflect"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/amberrt/amber/internal/goroutine"
)

// Ctx is the handle a direct-style program uses to perform effects. It is
// valid only inside the function passed to Do, and only on the goroutine
// that runs it: do not keep it, and do not use it from goroutines the
// program starts. A Ctx used from another goroutine performs nothing and
// fails the program with ErrWrongGoroutine.
type Ctx struct {
	m *Machine
	f *fiber
	// next resumes the body and yield switches back from it. They pass
	// nothing: what the body hands back is in back (see handBack).
	next  func() (struct{}, bool)
	yield func(struct{}) bool
	stop  func()
	// end is the body's frame: stepped once the body has returned, it
	// takes itself off the stack and passes the body's outcome on.
	end node
	// body is the goroutine that runs the body. gate is body until a call
	// from another goroutine is refused; then gate never matches, so the
	// body's next call takes the slow path and fails. Both are set by the
	// body's goroutine before the body runs, and cleared when it ends;
	// they are atomic because a misbehaving program reads them from other
	// goroutines.
	body, gate atomic.Uintptr
	misuse     atomic.Pointer[error]
	// goexit is set when the body called runtime.Goexit: its coroutine is
	// parked for good (see directNode.step).
	goexit bool
	// back is what the body handed the Machine at its last switch, when
	// it did not park itself in Call: the node it awaits, or its frame
	// (end) once it has ended. The body sets it, and m.work, before it
	// switches back; see handBack and takeBack.
	back  node
	cells []any
	// last is the cell that receives the result of a Call (the cell of
	// the latest result type), res points to last's value, and held is
	// set while last holds a result that may keep memory alive. callErr is
	// the failure of the Call, or errStopped.
	last    resultCell
	res     unsafe.Pointer
	held    bool
	callErr error
}

// Do turns ordinary Go code into a program. Each effect the body performs
// (through Await, Call or a Ctx method) suspends the body and hands the op
// to the interpreter, which resumes the body with the op's result:
//
//	greet := effect.Do(func(e *effect.Ctx) string {
//		now := e.Now()
//		e.Log(slog.LevelInfo, "hello", "at", now)
//		return "hi at " + now.Format(time.Kitchen)
//	})
//
// The body runs on a coroutine (iter.Pull): while the program waits, it
// holds a parked goroutine, unlike a tree-style program, which holds none.
// Failures of awaited programs unwind the body as panics (deferred calls
// run), and surface as the failure of the Do program unless the body uses
// Try. A panic in the body fails the program with a *PanicError.
//
// The body must perform its effects on its own goroutine; for concurrency
// within a task, await Par or Race. A Ctx used from any other goroutine
// (a go statement in the body, or another program's body) performs
// nothing, returns zero values to that goroutine, and the program fails
// with ErrWrongGoroutine as soon as its body next uses its Ctx or returns.
func Do[A any](body func(e *Ctx) A) Eff[A] {
	return Eff[A]{&directNode[A]{body: body}}
}

// DoErr is Do for a body that can fail: a non-nil error returned by the
// body fails the program.
func DoErr[A any](body func(e *Ctx) (A, error)) Eff[A] {
	return Eff[A]{&directNode[A]{bodyErr: body}}
}

// ErrWrongGoroutine is the failure of a direct-style program whose Ctx was
// used from a goroutine other than the one running its body. The error
// names the call (Call, Await, Try or Must) and what it was given.
var ErrWrongGoroutine = errors.New("effect: a direct-style *Ctx was used from a goroutine other than the one running its Do body")

// ErrGoexit is the failure of a direct-style program whose body called
// runtime.Goexit (as testing's t.FailNow does). The body's goroutine is
// left parked so that the exit cannot reach the interpreter's goroutine.
var ErrGoexit = errors.New("effect: a direct-style body called runtime.Goexit")

type directNode[A any] struct {
	body    func(e *Ctx) A
	bodyErr func(e *Ctx) (A, error)
}

// failure carries an awaited program's error up the body's Go stack.
type failure struct{ err error }

// cancelled unwinds a body whose fiber was cancelled.
type cancelled struct{}

// goexitStopped stands for a Goexit in a body that was being stopped.
type goexitStopped struct{}

// directFrame is the frame of a running body: below the cells of its
// awaits on the fiber's stack, it closes the coroutine if the fiber is
// cancelled, and passes the body's outcome on when the body returns.
type directFrame[A any] struct {
	e      Ctx
	result A
	err    error
}

func (n *directNode[A]) step(m *Machine, f *fiber, _ node) node {
	df := &directFrame[A]{}
	e := &df.e
	e.m, e.f, e.end = m, f, df
	e.next, e.stop = iter.Pull(func(yield func(struct{}) bool) {
		e.yield = yield
		g := goroutine.Current()
		e.body.Store(g)
		e.gate.Store(g)
		returned := false
		defer func() {
			// The body's goroutine is about to end (or park for good),
			// and its identity may be reused by a later goroutine: from
			// here on, no goroutine may use e.
			e.gate.Store(0)
			e.body.Store(0)
			r := recover()
			switch x := r.(type) {
			case nil:
				if !returned {
					// The body called runtime.Goexit. Were the coroutine
					// to end, iter.Pull would repeat the Goexit on the
					// interpreter's goroutine; it parks here for good
					// instead (close does not wake it), handing the
					// interpreter the failure.
					e.goexit = true
					e.handBack(&failNode{ErrGoexit})
					yield(struct{}{})
					// yield returned: the coroutine is being stopped (a
					// deferred call of a cancelled body called Goexit),
					// and cannot park. iter.Pull hands this panic, not
					// the Goexit, to the stopping goroutine, where close
					// recovers it.
					panic(goexitStopped{})
				}
			case failure:
				df.err = x.err
			case cancelled:
			default:
				df.err = newPanicError(r)
			}
			e.handBack(df)
		}()
		if n.bodyErr != nil {
			df.result, df.err = n.bodyErr(e)
		} else {
			df.result = n.body(e)
		}
		returned = true
	})
	f.push(df)
	return e.advance()
}

// advance runs the body until it awaits a node (returned), parks itself on
// an op (nil) or ends (its frame, e.end, is returned).
func (e *Ctx) advance() node {
	e.next()
	return e.takeBack()
}

// handBack records, on the body's goroutine before it switches back, that
// the body hands n to the Machine: a node it awaits, or its frame once it
// has ended. A body that parks itself in Call hands back nothing, so that
// whoever resumed it has nothing to do after the switch (see CallResume).
func (e *Ctx) handBack(n node) {
	e.back = n
	e.m.work = e
}

// takeBack returns what the body handed back at its last switch, nil if
// nothing, and clears it.
func (e *Ctx) takeBack() node {
	n := e.back
	e.back = nil
	e.m.work = nil
	return n
}

// step passes on the outcome of the body, which has returned: its frame is
// on top of the stack.
func (df *directFrame[A]) step(m *Machine, f *fiber, _ node) node {
	f.pop()
	if f.call == &df.e {
		f.call = nil // not to keep the frame alive
	}
	if p := df.e.misuse.Load(); p != nil {
		return unwind(m, f, *p)
	}
	if df.err != nil {
		return unwind(m, f, df.err)
	}
	r := df.result
	var zero A
	df.result = zero
	return deliver(m, f, r)
}

func (df *directFrame[A]) close(*Machine) {
	if df.e.goexit {
		return // parked for good
	}
	defer func() {
		// The body handed back its frame as it ended (or the failure
		// of its Goexit): no one steps it.
		df.e.takeBack()
		if r := recover(); r != nil {
			if _, ok := r.(goexitStopped); !ok {
				panic(r)
			}
		}
	}()
	// A body waiting in Call learns that it is being stopped from
	// callErr (callVia does not look at what yield returns).
	df.e.callErr = errStopped
	df.e.stop()
}

// cell receives the result of one Await; a Ctx keeps one cell per result
// type, so awaiting does not allocate. A cell sits on the fiber's stack
// while the body waits: the Machine delivers a value into it, or a failure,
// and resumes the body.
type cell[A any] struct {
	e   *Ctx
	v   A
	err error
	// ptrs is set if an A may hold pointers: then Call clears v once the
	// body has read it.
	ptrs bool
}

func (c *cell[A]) catch(_ *Machine, _ *fiber, err error) node {
	c.err = err
	return c.e.advance()
}

func cellFor[A any](e *Ctx) *cell[A] {
	for _, x := range e.cells {
		if c, ok := x.(*cell[A]); ok {
			return c
		}
	}
	c := &cell[A]{e: e, ptrs: mayHoldPointers(reflect.TypeFor[A]())}
	e.cells = append(e.cells, c)
	return c
}

func (c *cell[A]) clear() {
	var zero A
	c.v = zero
}

// mayHoldPointers reports whether a value of type t may hold pointers.
func mayHoldPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && mayHoldPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if mayHoldPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true
}

// await suspends the body on n and returns what n yields. Its caller has
// checked the goroutine.
//
// Call does await's work itself (and parks the body on its op), so that a
// body's coroutine switch is no deeper than Call: every frame between the
// body's loop and the switch costs a mispredicted return when the body is
// resumed (see settle).
func await[A any](e *Ctx, n node) (A, error) {
	e.dropResult()
	c := waitIn[A](e)
	e.handBack(n)
	if !e.yield(struct{}{}) {
		panic(cancelled{})
	}
	return c.take()
}

// waitIn pushes the cell that will receive the body's next result.
func waitIn[A any](e *Ctx) *cell[A] {
	c := cellFor[A](e)
	e.f.push(c)
	return c
}

// take returns the result the cell received and empties it, so that it
// does not keep the result alive.
func (c *cell[A]) take() (A, error) {
	v, err := c.v, c.err
	var zero A
	c.v, c.err = zero, nil
	return v, err
}

// refuse handles a call that failed the goroutine check: on the body's
// goroutine, after a refused call, it fails the body; on any other
// goroutine, it records the misuse, shuts the gate so that the body fails
// at its next call, and returns to let the caller return zero values (a
// panic there would take down the process, not the task).
func (e *Ctx) refuse(call string, arg func() string) {
	if goroutine.Current() == e.body.Load() {
		// The gate is shut only after a call from another goroutine has
		// recorded its misuse: the body fails with that error.
		err := ErrWrongGoroutine
		if p := e.misuse.Load(); p != nil {
			err = *p
		}
		panic(failure{err})
	}
	err := fmt.Errorf("%w: %s(%s); perform effects on the body's goroutine, and use Par or Race for concurrency", ErrWrongGoroutine, call, arg())
	e.misuse.CompareAndSwap(nil, &err)
	e.gate.Store(0)
}

// onBody reports whether the caller may use e: it runs on e's body
// goroutine and no call from another goroutine has been refused.
func (e *Ctx) onBody() bool { return goroutine.Current() == e.gate.Load() }

// Await runs the program p inside a direct-style body and returns its
// result. If p fails, Await does not return: the body unwinds and the Do
// program fails with p's error (use Try to handle the error in Go instead).
func Await[A any](e *Ctx, p Eff[A]) A {
	if !e.onBody() {
		e.refuse("Await", typeName[Eff[A]])
		var zero A
		return zero
	}
	v, err := await[A](e, orNil(p.n))
	if err != nil {
		panic(failure{err})
	}
	return v
}

// Try runs p inside a direct-style body and returns its result or its
// error.
func Try[A any](e *Ctx, p Eff[A]) (A, error) {
	if !e.onBody() {
		e.refuse("Try", typeName[Eff[A]])
		var zero A
		return zero, ErrWrongGoroutine
	}
	return await[A](e, orNil(p.n))
}

// Call performs op inside a direct-style body and returns its result; like
// Await(e, Perform(op)), without allocating.
func Call[R any](e *Ctx, op Op[R]) R {
	// Call is inlined into the body (its cost is the inliner's budget,
	// exactly: mind it when changing Call or callVia), so that the body's
	// coroutine switch (e.yield) is made from the body's own frame: every
	// frame between the body's loop and the switch costs a mispredicted
	// return when the body is resumed (see settle). The work is done in
	// callStart before the switch, and in callResult after it: calls that
	// return where the CPU expects. callVia makes its calls through its
	// parameters, which the inliner prices low.
	return callVia[R](e, op, e.yield, callStart, callResult)
}

// callVia is Call's body; see Call. If start refuses the call (it was made
// on another goroutine), the body is not switched to, and Call returns a
// zero R to the goroutine that made it. Otherwise, once the body is
// resumed, result returns e.res, which points to the value of a cell[R]:
// settle[R] filled it (lastCell), with R the result type of the op, which
// is Call's R (a type is an Op[R] only by embedding Returns[R]). result
// runs on the body's goroutine only, so it need not ask which goroutine
// runs.
func callVia[R any](e *Ctx, op any, yield func(struct{}) bool, start func(*Ctx, any) bool, result func(*Ctx) unsafe.Pointer) (r R) {
	if start(e, op) {
		// What yield returns is in e.callErr too: see close.
		yield(struct{}{})
		return *(*R)(result(e))
	}
	return
}

// callStart does Call's work before the switch: it checks the goroutine,
// and parks the body on op, as the op's step would, while the interpreter
// waits in e.next (the interpreter has no node to step when the switch
// comes back). The fiber's call tells settle that the body waits in Call:
// settle leaves the result in a cell of the op's result type (e.res points
// to its value), and Fail leaves a failure in e.callErr. callStart reports
// false if the call was refused.
func callStart(e *Ctx, op any) bool {
	if !e.onBody() {
		e.refuse("Call", func() string { return fmt.Sprintf("%T", op) })
		return false
	}
	if op == nil {
		panic(failure{ErrNilProgram})
	}
	e.dropResult()
	m, f := e.m, e.f
	m.steps++
	// m.suspend(f, op), written out (the compiler does not inline it),
	// with f.call set to e: the fiber waits in Call.
	id := m.nextOp + 1
	m.nextOp = id
	f.call = e
	i := len(m.pend)
	if i == cap(m.pend) {
		m.growPend()
	}
	m.pend = m.pend[:i+1]
	p := &m.pend[i]
	p.ID, p.Fiber, p.Op, p.f = id, f.id, op, f
	return true
}

// callResult does Call's work after the switch, on the body's goroutine:
// it returns a pointer to the R that Call returns, or fails the body with
// the failure of its op, or unwinds the body if it is being stopped.
func callResult(e *Ctx) unsafe.Pointer {
	if err := e.callErr; err != nil {
		if err == errStopped {
			panic(cancelled{}) // it stays set for later calls
		}
		e.callErr = nil
		panic(failure{err})
	}
	return e.res
}

// errStopped in e.callErr marks a body whose coroutine is being stopped;
// its Calls unwind it (as await does when yield returns false).
var errStopped = errors.New("effect: direct-style body stopped")

// resultCell is a cell that Call reads its result from.
type resultCell interface {
	clear()
}

// dropResult clears the result of the body's last Call if it may keep
// memory alive (e.held): the body, which calls await or Call again, has
// copied it out.
func (e *Ctx) dropResult() {
	if e.held {
		e.held = false
		e.last.clear()
	}
}

// lastCell returns e's cell for results of type A, and makes it the cell
// that Call reads (e.res), and the one it clears when the body has read it
// (e.held).
func lastCell[A any](e *Ctx) *cell[A] {
	c, ok := e.last.(*cell[A])
	if !ok {
		c = cellFor[A](e)
		e.last = c
		e.res = unsafe.Pointer(&c.v)
	}
	e.held = c.ptrs
	return c
}

// setResult leaves v where the body of e, waiting in Call, reads it:
// lastCell, inlined for the common case (the cell of the previous Call).
func setResult[A any](e *Ctx, v A) {
	if c, ok := e.last.(*cell[A]); ok {
		e.held = c.ptrs
		c.v = v
		return
	}
	lastCell[A](e).v = v
}

// Must returns v, or fails the direct-style body with err if it is not nil:
// the bridge from Go functions that return errors.
func Must[A any](e *Ctx, v A, err error) A {
	if !e.onBody() {
		e.refuse("Must", typeName[A])
		var zero A
		return zero
	}
	if err != nil {
		panic(failure{err})
	}
	return v
}

// Log writes a log record; see the program Log.
func (e *Ctx) Log(level slog.Level, msg string, args ...any) {
	Call[Unit](e, LogOp{Level: level, Msg: msg, Attrs: attrs(args)})
}

// Now returns the interpreter's current time; see the program Now.
func (e *Ctx) Now() time.Time { return Call[time.Time](e, NowOp{}) }

// Sleep waits for d; see the program Sleep.
func (e *Ctx) Sleep(d time.Duration) { Call[Unit](e, SleepOp{Duration: d}) }

// Random returns 64 random bits; see the program Random.
func (e *Ctx) Random() uint64 { return Call[uint64](e, RandomOp{}) }

// Self returns the running task's ID.
func (e *Ctx) Self() string { return Call[string](e, SelfOp{}) }
