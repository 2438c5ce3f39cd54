package effect

import (
	"iter"
	"log/slog"
	"time"
)

// Ctx is the handle a direct-style program uses to perform effects. It is
// valid only inside the function passed to Do, and only on the goroutine
// that runs it: do not keep it, and do not use it from goroutines the
// program starts.
type Ctx struct {
	f     *fiber
	yield func(node) bool
	adv   advancer
	cells []any
}

type advancer interface {
	advance(m *Machine, f *fiber) node
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
func Do[A any](body func(e *Ctx) A) Eff[A] {
	return Eff[A]{&directNode[A]{body: body}}
}

// DoErr is Do for a body that can fail: a non-nil error returned by the
// body fails the program.
func DoErr[A any](body func(e *Ctx) (A, error)) Eff[A] {
	return Eff[A]{&directNode[A]{bodyErr: body}}
}

type directNode[A any] struct {
	body    func(e *Ctx) A
	bodyErr func(e *Ctx) (A, error)
}

// failure carries an awaited program's error up the body's Go stack.
type failure struct{ err error }

// cancelled unwinds a body whose fiber was cancelled.
type cancelled struct{}

type directFrame[A any] struct {
	next   func() (node, bool)
	stop   func()
	result A
	err    error
}

func (n *directNode[A]) step(m *Machine, f *fiber, _ node) node {
	df := &directFrame[A]{}
	e := &Ctx{f: f, adv: df}
	seq := func(yield func(node) bool) {
		e.yield = yield
		defer func() {
			if r := recover(); r != nil {
				switch x := r.(type) {
				case failure:
					df.err = x.err
				case cancelled:
				default:
					df.err = newPanicError(r)
				}
			}
		}()
		if n.bodyErr != nil {
			df.result, df.err = n.bodyErr(e)
		} else {
			df.result = n.body(e)
		}
	}
	df.next, df.stop = iter.Pull(seq)
	f.push(df)
	return df.advance(m, f)
}

// advance runs the body until it awaits a node (returned) or ends.
func (df *directFrame[A]) advance(m *Machine, f *fiber) node {
	n, ok := df.next()
	if ok {
		return n
	}
	// The body returned: its frame is on top of the stack.
	f.pop()
	if df.err != nil {
		return unwind(m, f, df.err)
	}
	r := df.result
	var zero A
	df.result = zero
	return deliver(m, f, r)
}

func (df *directFrame[A]) close(*Machine) { df.stop() }

// cell receives the result of one Await; a Ctx keeps one cell per result
// type, so awaiting does not allocate.
type cell[A any] struct {
	box contBox[A]
	e   *Ctx
	v   A
	err error
}

func (c *cell[A]) resume(m *Machine, f *fiber, v A) node {
	c.v = v
	return c.e.adv.advance(m, f)
}

func (c *cell[A]) catch(m *Machine, f *fiber, err error) node {
	c.err = err
	return c.e.adv.advance(m, f)
}

func cellFor[A any](e *Ctx) *cell[A] {
	for _, x := range e.cells {
		if c, ok := x.(*cell[A]); ok {
			return c
		}
	}
	c := &cell[A]{e: e}
	c.box.c = c
	e.cells = append(e.cells, c)
	return c
}

func await[A any](e *Ctx, n node) (A, error) {
	c := cellFor[A](e)
	e.f.push(&c.box)
	if !e.yield(n) {
		panic(cancelled{})
	}
	v, err := c.v, c.err
	var zero A
	c.v, c.err = zero, nil
	return v, err
}

// Await runs the program p inside a direct-style body and returns its
// result. If p fails, Await does not return: the body unwinds and the Do
// program fails with p's error (use Try to handle the error in Go instead).
func Await[A any](e *Ctx, p Eff[A]) A {
	v, err := await[A](e, orNil(p.n))
	if err != nil {
		panic(failure{err})
	}
	return v
}

// Try runs p inside a direct-style body and returns its result or its
// error.
func Try[A any](e *Ctx, p Eff[A]) (A, error) {
	return await[A](e, orNil(p.n))
}

// Call performs op inside a direct-style body and returns its result; like
// Await(e, Perform(op)), without allocating.
func Call[R any](e *Ctx, op Op[R]) R {
	if op == nil {
		panic(failure{ErrNilProgram})
	}
	v, err := await[R](e, op)
	if err != nil {
		panic(failure{err})
	}
	return v
}

// Must returns v, or fails the direct-style body with err if it is not nil:
// the bridge from Go functions that return errors.
func Must[A any](e *Ctx, v A, err error) A {
	_ = e
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
