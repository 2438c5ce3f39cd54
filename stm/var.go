package stm

import (
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"
)

// How a var holds its value.
//
// Every var has a versioned lock: lock holds the version of the commit that
// wrote the current value, shifted left by one, with the low bit set while
// a commit holds the var. A reader loads lock, then the value, then lock
// again (a seqlock): if the two loads agree and the bit is clear, the value
// belongs to that version. A commit sets the bit with a CAS, stores the new
// value and then the new version, which clears the bit.
//
// The value itself is kept in one of two ways, chosen once per var by its
// type:
//   - in place, in word, when T holds no pointers and fits in 8 bytes
//     (int, float64, bool, small structs of them): a write allocates
//     nothing;
//   - behind ptr, a pointer to an immutable copy: each write allocates a
//     new copy, because a reader may still be copying the old one (the GC
//     frees it when no reader holds it).
type varCore struct {
	lock  atomic.Uint64
	word  atomic.Uint64  // the value, if inPlace
	ptr   unsafe.Pointer // *T, if not inPlace; accessed atomically
	nwait atomic.Int32   // len(waiters), readable without waitMu

	inPlace bool
	id      uint64 // 0 only for a zero Var
	own     *owned // non-nil for a var made by NewOwned

	waitMu  sync.Mutex
	waiters map[*Wait]struct{}
}

// locked is the lock bit of varCore.lock.
const locked = 1

// fenced is set in varCore.lock beside locked by a commit that will look
// for waiters after a fence once it has released the lock: one that runs
// an Owner's Prepare (tx.owned), which may hold the lock for a store round
// trip. A commit without Prepare holds the lock for a few instructions and
// may release it with a plain store (release in store_tso.go), after which
// it can miss a waiter that registered meanwhile: a waiter that finds the
// lock held without fenced waits for the word to change instead of
// sleeping (settled). Versions stay below 1<<62, so the bit is free.
const fenced = 1 << 63

var nextID atomic.Uint64

// Var is a transactional variable holding a T. Create it with NewVar (or
// through an Owner, such as a world.World); the zero Var is not usable.
//
// A Var stores its value by copy: Set and Store copy x in, Get and Load copy
// it out. When T is or contains a map, slice or pointer, the copy is shallow,
// so mutating the referenced data in place bypasses the STM (see the package
// documentation, "Values and mutation").
type Var[T any] struct {
	core varCore
	init T // the initial value when it is kept behind ptr: one allocation less
}

// AnyVar names a Var without knowing its type.
type AnyVar interface {
	// Name is the var's name given by its Owner, or "" for an anonymous
	// var.
	Name() string
	// ID is unique among the vars of this process and never reused.
	ID() uint64

	anyVar() *varCore
}

var _ AnyVar = (*Var[int])(nil)

// NewVar returns a new anonymous var holding initial.
func NewVar[T any](initial T) *Var[T] {
	v := new(Var[T])
	v.core.id = nextID.Add(1)
	if inPlace(reflect.TypeFor[T]()) {
		v.core.inPlace = true
		v.core.word.Store(toWord(initial))
	} else {
		v.init = initial
		v.core.ptr = unsafe.Pointer(&v.init)
	}
	return v
}

// inPlace reports whether values of t can live in a var's word: no
// pointers for the GC to see, and at most 8 bytes.
func inPlace(t reflect.Type) bool {
	return t.Size() <= 8 && pointerFree(t)
}

func pointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() == 0 || pointerFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !pointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// toWord and fromWord convert a value of an in-place type to and from its
// word. They are only called for such types (at most 8 bytes, 8-aligned at
// most), so the word always has room.
func toWord[T any](x T) uint64 {
	var u uint64
	*(*T)(unsafe.Pointer(&u)) = x
	return u
}

func fromWord[T any](u uint64) T { return *(*T)(unsafe.Pointer(&u)) }

// Name returns the var's name given by its Owner, or "" for an anonymous
// var.
func (v *Var[T]) Name() string {
	if v.core.own == nil {
		return ""
	}
	return v.core.own.name
}

// ID returns a process-unique identifier for the var.
func (v *Var[T]) ID() uint64 { return v.core.id }

func (v *Var[T]) anyVar() *varCore { return &v.core }

// Load returns the var's latest committed value. It takes no lock, never
// waits, and may be called anywhere, also inside a transaction, where it is
// not part of the transaction (use Get there), and from an Owner's Prepare,
// where it returns the value the commit is about to replace. Two Loads of
// different vars are two separate reads: for a consistent view of several
// vars, use a transaction.
func (v *Var[T]) Load() T {
	// The value slot is written only when a commit publishes, after its
	// Prepare: whatever it holds is committed. No seqlock is needed for one
	// value without its version.
	c := &v.core
	if c.inPlace {
		return fromWord[T](c.word.Load())
	}
	p := atomic.LoadPointer(&c.ptr)
	if p == nil {
		var zero T
		return zero
	}
	return *(*T)(p)
}

// Store sets the var to x in a transaction of its own and wakes the
// transactions waiting (via Retry) on the var.
//
// Store must not be called inside a transaction (nor from an Owner's
// Prepare): it panics with an error wrapping ErrNested. It also panics if
// the var's Owner refuses the write; use Atomically to receive that error
// instead.
func (v *Var[T]) Store(x T) {
	_, _, err := run(nil, "Var.Store", func(tx *Tx) (struct{}, error) {
		v.Set(tx, x)
		return struct{}{}, nil
	}, true)
	if err != nil {
		panic(err)
	}
}

// Get returns the var's value as seen by tx: the value tx wrote last, or
// else the value at tx's snapshot. If the var changed after tx's snapshot
// and the snapshot cannot be extended, tx is abandoned and rerun from the
// start, so a transaction body only ever sees consistent values.
func (v *Var[T]) Get(tx *Tx) T {
	c := &v.core
	if len(tx.writes) != 0 {
		if i := tx.findWrite(c); i >= 0 {
			if c.inPlace {
				return fromWord[T](tx.writes[i].word)
			}
			return *(*T)(tx.writes[i].p)
		}
	}
	if c.inPlace {
		return fromWord[T](tx.readWord(c))
	}
	return *(*T)(tx.readPtr(c))
}

// Set records x as the var's new value in tx. Nothing is visible to others
// until tx commits.
func (v *Var[T]) Set(tx *Tx, x T) {
	c := &v.core
	if i := tx.findWrite(c); i >= tx.level {
		// Written before in this branch and not yet published: reuse it.
		w := &tx.writes[i]
		if c.inPlace {
			w.word = toWord(x)
		} else {
			*(*T)(w.p) = x
		}
		w.stamped = false
		return
	}
	if c.inPlace {
		tx.addWrite(c, nil, toWord(x))
		return
	}
	p := new(T)
	*p = x
	tx.addWrite(c, unsafe.Pointer(p), 0)
}

// Modify sets v to f applied to its value in tx and returns the new value.
// f must not mutate its argument in place when T holds maps, slices or
// pointers: build and return a new value.
func Modify[T any](tx *Tx, v *Var[T], f func(T) T) T {
	x := f(v.Get(tx))
	v.Set(tx, x)
	return x
}
