package effect

import (
	"context"
	"fmt"
	"reflect"
)

// Op is an operation that yields a result of type R when an interpreter
// performs it. Define an op by embedding Returns:
//
//	type GetUser struct {
//		effect.Returns[User]
//		ID string
//	}
//
// The op's exported fields are its identity: they are encoded (as CBOR) to
// fingerprint the op in a journal, so they must be plain data.
type Op[R any] interface {
	node
	isOp(*R)
}

// Returns marks a struct as an Op[R]. Embed it by value; it has no fields.
type Returns[R any] struct{}

func (Returns[R]) isOp(*R) {}

// step suspends the fiber on the op; the op value is self.
func (Returns[R]) step(m *Machine, f *fiber, self node) node {
	m.suspend(f, self)
	return nil
}

// opNode is what the Machine needs of an op without knowing R.
type opNode interface {
	node
	resultType() string
	resumeAny(m *Machine, i int, v any) bool
	decodeResume(m *Machine, i int, decode func(ptr any) error) error
	runActivity(ctx context.Context, self any) (any, error, bool)
	isActivity(self any) bool
	newResult() any
}

func (Returns[R]) resultType() string { return reflect.TypeFor[R]().String() }

func (Returns[R]) newResult() any { return new(R) }

// resumeAny completes pending op i with v, which must be an R or nil (the
// zero R), and runs the program on; it reports false, and does nothing, if
// v is of another type.
func (Returns[R]) resumeAny(m *Machine, i int, v any) bool {
	r, ok := v.(R)
	if !ok && v != nil {
		return false
	}
	if e := settle(m, i, r); e != nil {
		m.proceed(e.f, e.advance())
	}
	return true
}

func (Returns[R]) decodeResume(m *Machine, i int, decode func(ptr any) error) error {
	var r R
	if err := decode(&r); err != nil {
		return err
	}
	if e := settle(m, i, r); e != nil {
		m.proceed(e.f, e.advance())
	}
	return nil
}

func (Returns[R]) runActivity(ctx context.Context, self any) (any, error, bool) {
	a, ok := self.(Activity[R])
	if !ok {
		return nil, nil, false
	}
	r, err := a.Run(ctx)
	return r, err, true
}

func isNilable[R any]() bool {
	switch reflect.TypeFor[R]().Kind() {
	case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return true
	}
	return false
}

// Perform is the program that performs op and yields its result.
func Perform[R any](op Op[R]) Eff[R] {
	if op == nil {
		return Fail[R](ErrNilProgram)
	}
	return Eff[R]{op}
}

// Activity is an op that knows how to perform itself against the real
// world: the live and durable interpreters call Run when no handler is
// registered for the op's type. Run may be called more than once for one
// op (activities are at-least-once under the durable interpreter); make it
// idempotent.
type Activity[R any] interface {
	Op[R]
	// Run performs the op against the outside world; ctx carries what
	// ActivityOf returns, and ends when the attempt times out or the task
	// stops.
	Run(ctx context.Context) (R, error)
}

// IsActivity reports whether op is an Activity: an op with a Run method.
func IsActivity(op any) bool {
	o, ok := op.(opNode)
	return ok && o.isActivity(op)
}

func (Returns[R]) isActivity(self any) bool {
	_, ok := self.(Activity[R])
	return ok
}

// IsOp reports whether v is an op (a value whose type embeds Returns).
func IsOp(v any) bool {
	_, ok := v.(opNode)
	return ok
}

// ResultType returns the result type of op, or nil if op is not an op.
func ResultType(op any) reflect.Type {
	o, ok := op.(opNode)
	if !ok {
		return nil
	}
	return reflect.TypeOf(o.newResult()).Elem()
}

// NewResult returns a pointer to a zero value of op's result type, for a
// decoder to fill. It returns nil if op is not an op.
func NewResult(op any) any {
	o, ok := op.(opNode)
	if !ok {
		return nil
	}
	return o.newResult()
}

// RunActivity performs op by calling its Run method. ok is false if op is
// not an Activity.
func RunActivity(ctx context.Context, op any) (result any, err error, ok bool) {
	o, isOp := op.(opNode)
	if !isOp {
		return nil, nil, false
	}
	return o.runActivity(ctx, op)
}

// A Handler performs ops of one type. Build one with Handle.
type Handler struct {
	typ reflect.Type
	fn  func(ctx context.Context, op any) (any, error)
	// res performs the op and settles it: it returns the Ctx of a
	// direct-style body waiting on the op, for CallResume to resume.
	res func(ctx context.Context, m *Machine, id uint64, op any) (*Ctx, error)
}

// Handle returns a Handler for ops of type O, typed on both sides:
//
//	effect.Handle(func(ctx context.Context, q GetUser) (User, error) {
//		return db.User(ctx, q.ID)
//	})
func Handle[O Op[R], R any](fn func(ctx context.Context, op O) (R, error)) Handler {
	return Handler{
		typ: reflect.TypeFor[O](),
		fn: func(ctx context.Context, op any) (any, error) {
			return fn(ctx, op.(O))
		},
		res: func(ctx context.Context, m *Machine, id uint64, op any) (*Ctx, error) {
			o, ok := op.(O)
			if !ok {
				return nil, fmt.Errorf("effect: handler for %v called with %T", reflect.TypeFor[O](), op)
			}
			r, err := fn(ctx, o)
			if err != nil {
				return nil, m.Fail(id, err)
			}
			// O is an Op[R]: no need to check the type. The common
			// case, a body waiting in Call on the op, is settle's,
			// written out here.
			var e *Ctx
			var f *fiber
			if i := len(m.pend) - 1; i >= 0 && m.pend[i].ID == id && m.work == nil && m.runHead == len(m.runq) {
				// m.takeCall(id), written out for its common case.
				p := &m.pend[i]
				f = p.f
				p.Op, p.f = nil, nil
				m.pend = m.pend[:i]
				e = f.call
			} else {
				e, f = m.takeCall(id)
			}
			if e == nil {
				if f == nil {
					return nil, fmt.Errorf("%w: %d", ErrNotPending, id)
				}
				return settleSlow(m, f, r), nil
			}
			if c, ok := e.last.(*cell[R]); ok {
				e.held = c.ptrs
				c.v = r
			} else {
				lastCell[R](e).v = r
			}
			return e, nil
		},
	}
}

// OpType is the type of op the handler performs.
func (h Handler) OpType() reflect.Type { return h.typ }

// Call performs op with the handler.
func (h Handler) Call(ctx context.Context, op any) (any, error) {
	if reflect.TypeOf(op) != h.typ {
		return nil, fmt.Errorf("effect: handler for %v called with %T", h.typ, op)
	}
	return h.fn(ctx, op)
}

// CallResume performs the pending op id of m with the handler and resumes m
// with the outcome, without boxing the result. It is the fast path for an
// interpreter that does not journal.
//
// A direct-style body waiting on the op runs until it waits again, before
// CallResume returns; if it then awaits a program or ends, the Machine
// carries on with that at its next method call (Done, Pending, Result,
// Resume, ...), so that every method answers as it would after Resume.
func (h Handler) CallResume(ctx context.Context, m *Machine, id uint64, op any) error {
	// Inlined (resumeVia too), so that a direct-style body waiting on the
	// op is resumed (e.next) from the interpreter's own frame: h.res
	// performs the op and settles it before the switch, and what the body
	// hands back (see Ctx.handBack) is left for the Machine's next method
	// call (Machine.sync), so that there is nothing to do after it. The
	// work is the same as Machine.Resume's, done at the next call.
	return resumeVia(ctx, m, id, op, h.res)
}

// resumeVia is CallResume's body; it makes its calls through its
// parameters, which the inliner prices low (see callVia).
func resumeVia(ctx context.Context, m *Machine, id uint64, op any, res func(context.Context, *Machine, uint64, any) (*Ctx, error)) error {
	e, err := res(ctx, m, id, op)
	if e != nil {
		resumeBody(e.next)
	}
	return err
}

// resumeBody resumes a body; see CallResume.
func resumeBody(next func() (struct{}, bool)) { next() }

// Handlers is a set of handlers keyed by op type. The zero value is empty
// and ready to use.
type Handlers struct {
	m map[reflect.Type]Handler
}

// NewHandlers returns a set holding hs; a later handler for the same op type
// replaces an earlier one.
func NewHandlers(hs ...Handler) *Handlers {
	s := &Handlers{}
	for _, h := range hs {
		s.Add(h)
	}
	return s
}

// Add adds h, replacing any handler for the same op type.
func (s *Handlers) Add(h Handler) {
	if s.m == nil {
		s.m = make(map[reflect.Type]Handler)
	}
	s.m[h.typ] = h
}

// Lookup returns the handler for op's type.
func (s *Handlers) Lookup(op any) (Handler, bool) {
	if s == nil || s.m == nil {
		return Handler{}, false
	}
	h, ok := s.m[reflect.TypeOf(op)]
	return h, ok
}
