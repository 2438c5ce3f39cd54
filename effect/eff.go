package effect

import (
	"errors"
)

// Unit is the result of an effect that returns nothing of interest.
type Unit = struct{}

// Eff is a program that, when interpreted, yields a value of type A or fails
// with an error. It is a value: building one performs nothing. Eff values are
// immutable and may be run any number of times by any interpreter.
//
// The zero Eff is not a valid program; running it fails with ErrNilProgram.
type Eff[A any] struct{ n node }

// node is one instruction of the tree. step evaluates it on fiber f of m
// and returns the next node to evaluate on f, or nil when f has stopped
// (suspended on an op, blocked on a join, or finished). self is the node
// itself, passed so that ops, whose step is promoted from Returns, know
// their own value.
type node interface {
	step(m *Machine, f *fiber, self node) node
}

// ErrNilProgram reports a zero Eff, or a continuation that returned one.
var ErrNilProgram = errors.New("effect: nil program (zero Eff value)")

// Pure is a program that yields v and does nothing else.
func Pure[A any](v A) Eff[A] { return Eff[A]{&pure[A]{v}} }

type pure[A any] struct{ v A }

func (p *pure[A]) step(m *Machine, f *fiber, _ node) node { return deliver(m, f, p.v) }

// Fail is a program that fails with err. A nil err fails with ErrNilError.
func Fail[A any](err error) Eff[A] {
	if err == nil {
		err = ErrNilError
	}
	return Eff[A]{&failNode{err}}
}

// ErrNilError is the failure of Fail(nil).
var ErrNilError = errors.New("effect: Fail called with a nil error")

type failNode struct{ err error }

func (n *failNode) step(m *Machine, f *fiber, _ node) node { return unwind(m, f, n.err) }

// Then runs m, passes its result to k, and runs the program k returns: the
// monadic bind. It is stack-safe in both associations: a million nested
// Thens run in constant Go stack and linear time.
func Then[A, B any](m Eff[A], k func(A) Eff[B]) Eff[B] {
	b := &bind[A, B]{m: m.n, k: k}
	b.box.c = b
	return Eff[B]{b}
}

type bind[A, B any] struct {
	box contBox[A]
	m   node
	k   func(A) Eff[B]
}

func (b *bind[A, B]) step(m *Machine, f *fiber, _ node) node {
	f.push(&b.box)
	return orNil(b.m)
}

func (b *bind[A, B]) resume(_ *Machine, _ *fiber, v A) node { return orNil(b.k(v).n) }

// Map runs m and yields fn of its result.
func Map[A, B any](m Eff[A], fn func(A) B) Eff[B] {
	n := &mapNode[A, B]{m: m.n, fn: fn}
	n.box.c = n
	return Eff[B]{n}
}

type mapNode[A, B any] struct {
	box contBox[A]
	m   node
	fn  func(A) B
}

func (n *mapNode[A, B]) step(m *Machine, f *fiber, _ node) node {
	f.push(&n.box)
	return orNil(n.m)
}

func (n *mapNode[A, B]) resume(_ *Machine, _ *fiber, v A) node { return &pure[B]{n.fn(v)} }

// As runs m and discards its result, yielding v.
func As[A, B any](m Eff[A], v B) Eff[B] { return Map(m, func(A) B { return v }) }

// Seq runs m, discards its result, and then runs next.
func Seq[A, B any](m Eff[A], next Eff[B]) Eff[B] {
	return Then(m, func(A) Eff[B] { return next })
}

// Catch runs m; if m fails, it runs h with the error instead. Cancellation
// (a losing Race branch, a cancelled task) is not a failure and is not
// caught.
func Catch[A any](m Eff[A], h func(error) Eff[A]) Eff[A] {
	return Eff[A]{&catchNode[A]{m.n, h}}
}

type catchNode[A any] struct {
	m node
	h func(error) Eff[A]
}

func (n *catchNode[A]) step(m *Machine, f *fiber, _ node) node {
	f.push(n)
	return orNil(n.m)
}

func (n *catchNode[A]) catch(m *Machine, f *fiber, err error) node { return orNil(n.h(err).n) }

var _ catcher = (*catchNode[int])(nil)

// Suspend defers building a program until it runs: useful for recursive
// definitions, which would otherwise build an infinite tree eagerly.
func Suspend[A any](build func() Eff[A]) Eff[A] {
	return Then(Pure(Unit{}), func(Unit) Eff[A] { return build() })
}

func orNil(n node) node {
	if n == nil {
		return &failNode{ErrNilProgram}
	}
	return n
}
