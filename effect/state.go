package effect

import (
	"context"
	"errors"

	"github.com/amberrt/amber/stm"
)

// Transactor is implemented by the state ops (ReadStateOp, WriteStateOp,
// AtomicallyOp): what an interpreter calls to perform one against the live
// STM world without knowing its type.
//
// Transact makes one attempt. If the transaction committed or failed, wait
// is nil. If it called Retry, nothing was committed and wait reports when a
// var it read changes: the interpreter parks the task (holding no
// goroutine) and calls Transact again once wait is done.
type Transactor interface {
	Transact() (result any, wait *stm.Wait, err error)
}

// ContextTransactor is implemented by the state ops that write
// (WriteStateOp, AtomicallyOp). TransactContext is Transact with a context
// that reaches the commit hook of a world.World (world.Commit.Context), and a
// callback that receives the transaction's result just before it commits:
// what a durable interpreter needs to store the op's journal entry and the
// world writes in one store transaction, before anyone can see them.
type ContextTransactor interface {
	TransactContext(ctx context.Context, onResult func(any)) (result any, wait *stm.Wait, err error)
}

// ErrNilVar is the failure of a state op on a nil var.
var ErrNilVar = errors.New("effect: state op on a nil stm.Var")

// ReadStateOp reads an STM var.
type ReadStateOp[T any] struct {
	Returns[T]
	Var string // the var's name in its World, "" if anonymous
	v   *stm.Var[T]
}

// Transact reads the var.
func (o ReadStateOp[T]) Transact() (any, *stm.Wait, error) {
	if o.v == nil {
		return nil, nil, ErrNilVar
	}
	return o.v.Load(), nil, nil
}

// ReadState yields the current value of v. The result is journaled: a
// replay yields the recorded value and never reads the live world.
func ReadState[T any](v *stm.Var[T]) Eff[T] {
	return Eff[T]{ReadStateOp[T]{Var: varName(v), v: v}}
}

// WriteStateOp writes an STM var.
type WriteStateOp[T any] struct {
	Returns[Unit]
	Var   string
	Value T
	v     *stm.Var[T]
}

// Transact writes the var.
func (o WriteStateOp[T]) Transact() (any, *stm.Wait, error) {
	if o.v == nil {
		return nil, nil, ErrNilVar
	}
	o.v.Store(o.Value)
	return Unit{}, nil, nil
}

// TransactContext writes the var; see ContextTransactor.
func (o WriteStateOp[T]) TransactContext(ctx context.Context, onResult func(any)) (any, *stm.Wait, error) {
	if o.v == nil {
		return nil, nil, ErrNilVar
	}
	_, w, err := stm.AttemptContext(ctx, func(tx *stm.Tx) (Unit, error) {
		o.v.Set(tx, o.Value)
		onResult(Unit{})
		return Unit{}, nil
	})
	return Unit{}, w, err
}

// WriteState sets v to x, atomically.
func WriteState[T any](v *stm.Var[T], x T) Eff[Unit] {
	return Eff[Unit]{WriteStateOp[T]{Var: varName(v), Value: x, v: v}}
}

// AtomicallyOp runs an STM transaction.
type AtomicallyOp[T any] struct {
	Returns[T]
	// Label names the transaction in the journal; it is part of the op's
	// fingerprint.
	Label string `cbor:",omitempty"`
	fn    func(tx *stm.Tx) (T, error)
}

// Transact makes one attempt at the transaction.
func (o AtomicallyOp[T]) Transact() (any, *stm.Wait, error) {
	if o.fn == nil {
		return nil, nil, ErrNilProgram
	}
	r, w, err := stm.Attempt(o.fn)
	if err != nil || w != nil {
		return nil, w, err
	}
	return r, nil, nil
}

// TransactContext makes one attempt at the transaction; see
// ContextTransactor.
func (o AtomicallyOp[T]) TransactContext(ctx context.Context, onResult func(any)) (any, *stm.Wait, error) {
	if o.fn == nil {
		return nil, nil, ErrNilProgram
	}
	r, w, err := stm.AttemptContext(ctx, func(tx *stm.Tx) (T, error) {
		r, err := o.fn(tx)
		if err == nil {
			onResult(r)
		}
		return r, err
	})
	if err != nil || w != nil {
		return nil, w, err
	}
	return r, nil, nil
}

// Atomically runs fn as one STM transaction and yields its result. Its
// fingerprint in the journal is its result type only; prefer
// AtomicallyLabel where a program runs several different transactions, so
// that a replay can tell them apart. If fn
// calls tx.Retry, the task waits, holding no goroutine, until a var fn read
// changes, and then runs fn again. An error returned by fn rolls the
// transaction back and fails the program. The result is journaled; fn's
// effects on the world are not replayed.
func Atomically[T any](fn func(tx *stm.Tx) (T, error)) Eff[T] {
	return Eff[T]{AtomicallyOp[T]{fn: fn}}
}

// AtomicallyLabel is Atomically with a label that names the transaction in
// journals and divergence reports.
func AtomicallyLabel[T any](label string, fn func(tx *stm.Tx) (T, error)) Eff[T] {
	return Eff[T]{AtomicallyOp[T]{Label: label, fn: fn}}
}

func varName[T any](v *stm.Var[T]) string {
	if v == nil {
		return ""
	}
	return v.Name()
}
