package stm

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// A var's current value lives in an immutable box together with the
// version of the commit that wrote it, so one atomic load gives a
// consistent (version, value) pair. A commit locks a var by setting the low
// bit of its box pointer (boxes are 8-aligned; the tagged pointer still
// points into the box, so the GC keeps it alive), then publishes a new box.
type box[T any] struct {
	ver uint64 // the global clock value of the commit that wrote the box
	val T
}

// boxVer reads the version of a box of any type (ver is its first field).
func boxVer(p unsafe.Pointer) uint64 { return *(*uint64)(p) }

func isLocked(p unsafe.Pointer) bool { return uintptr(p)&1 != 0 }

// lockedPtr tags an untagged box pointer.
func lockedPtr(p unsafe.Pointer) unsafe.Pointer { return unsafe.Add(p, 1) }

// unlockedPtr removes the tag, if any.
func unlockedPtr(p unsafe.Pointer) unsafe.Pointer { return unsafe.Add(p, -int(uintptr(p)&1)) }

// varCore is the type-erased part of a Var: everything a transaction needs
// to read, validate, lock and publish without knowing T.
type varCore struct {
	cur   unsafe.Pointer // *box[T], accessed atomically; low bit = locked
	nwait atomic.Int32   // len(waiters), readable without waitMu

	id    uint64
	name  string
	world *World
	codec *codec // non-nil for world vars

	waitMu  sync.Mutex
	waiters map[*Wait]struct{}
}

var nextID atomic.Uint64

func (c *varCore) load() unsafe.Pointer { return atomic.LoadPointer(&c.cur) }

// Var is a transactional variable holding a T. Create it with NewVar (or
// Named, for a var that belongs to a World); the zero Var is not usable.
//
// A Var stores its value by copy: Set and Store copy x in, Get and Load copy
// it out. When T is or contains a map, slice or pointer, the copy is shallow,
// so mutating the referenced data in place bypasses the STM (see the package
// documentation, "Values and mutation").
type Var[T any] struct {
	core varCore // first field: NamedE converts a *varCore back to *Var[T]
	init box[T]
}

// AnyVar names a Var without knowing its type.
type AnyVar interface {
	// Name is the var's name in its World, or "" for an anonymous var.
	Name() string
	// ID is unique among the vars of this process and never reused.
	ID() uint64
	// World is the World the var belongs to, or nil.
	World() *World

	anyVar() *varCore
}

var _ AnyVar = (*Var[int])(nil)

// NewVar returns a new anonymous var holding initial.
func NewVar[T any](initial T) *Var[T] {
	v := &Var[T]{init: box[T]{val: initial}}
	v.core.id = nextID.Add(1)
	v.core.cur = unsafe.Pointer(&v.init)
	return v
}

// Name returns the var's name in its World, or "" for an anonymous var.
func (v *Var[T]) Name() string { return v.core.name }

// ID returns a process-unique identifier for the var.
func (v *Var[T]) ID() uint64 { return v.core.id }

// World returns the World the var belongs to, or nil for an anonymous var.
func (v *Var[T]) World() *World { return v.core.world }

func (v *Var[T]) anyVar() *varCore { return &v.core }

// Load returns the var's latest committed value. It takes no lock, never
// waits, and may be called anywhere, also inside a transaction, where it is
// not part of the transaction (use Get there). Two Loads of different vars
// are two separate reads: for a consistent view of several vars, use a
// transaction.
func (v *Var[T]) Load() T {
	p := v.core.load()
	if p == nil {
		var zero T
		return zero
	}
	return (*box[T])(unlockedPtr(p)).val
}

// Store sets the var to x in a transaction of its own and wakes the
// transactions waiting (via Retry) on the var.
//
// Store must not be called inside a transaction (nor from a commit hook): it
// panics with an error wrapping ErrNested. It also panics if the var belongs
// to a World whose commit hook rejects the write; use Atomically to receive
// that error instead.
func (v *Var[T]) Store(x T) {
	tx := enter(nil)
	if tx == nil {
		panic(nestedError("Var.Store"))
	}
	defer leave(tx)
	for attempt := 0; ; attempt++ {
		tx.begin()
		v.Set(tx, x)
		err := tx.commit()
		if err == nil {
			return
		}
		if err != errConflict {
			panic(err)
		}
		backoff(attempt)
	}
}

// Get returns the var's value as seen by tx: the value tx wrote last, or
// else the value at tx's snapshot. If the var changed after tx's snapshot
// and the snapshot cannot be extended, tx is abandoned and rerun from the
// start, so a transaction body only ever sees consistent values.
func (v *Var[T]) Get(tx *Tx) T {
	return (*box[T])(tx.read(&v.core)).val
}

// Set records x as the var's new value in tx. Nothing is visible to others
// until tx commits.
func (v *Var[T]) Set(tx *Tx, x T) {
	c := &v.core
	if i := tx.findWrite(c); i >= tx.level {
		// Written before in this branch and not yet published: reuse it.
		(*box[T])(tx.writes[i].p).val = x
		return
	}
	tx.addWrite(c, unsafe.Pointer(&box[T]{val: x}))
}

// Modify sets v to f applied to its value in tx and returns the new value.
// f must not mutate its argument in place when T holds maps, slices or
// pointers: build and return a new value.
func Modify[T any](tx *Tx, v *Var[T], f func(T) T) T {
	x := f(v.Get(tx))
	v.Set(tx, x)
	return x
}
