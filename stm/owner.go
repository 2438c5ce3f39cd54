package stm

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
)

// An Owner takes part in every commit that writes one of its vars (the
// vars made by NewOwned with it), like a resource manager in a two-phase
// commit. It is the core's one extension point: package world uses it to
// name vars, persist their writes and validate them against a store shared
// by many processes, without the core knowing about names, codecs or
// stores.
type Owner interface {
	// Prepare is called once for each commit that writes at least one of
	// the owner's vars, after the commit has locked every var it writes
	// and validated every var it read, and before any of its writes is
	// visible: no other transaction, and no Load, sees a write before
	// Prepare has returned nil.
	//
	// If Prepare returns an error, nothing is published and the locks are
	// released. An error that is or wraps a *Conflict makes the
	// transaction rerun (after Conflict.Refresh); a *Handoff makes it
	// return as committed, its writes published by Handoff.Refresh; any
	// other error is returned by Atomically (or Attempt) as is.
	//
	// Prepare runs on the committing goroutine, inside the transaction: it
	// must not start a transaction (that is an error wrapping ErrNested),
	// nor block on a transaction of another goroutine. While it runs,
	// transactions that touch the committing vars wait for it (spinning
	// briefly, then parked until the commit publishes or gives up its
	// locks), so it should be quick or wait on a group commit shared by
	// many transactions. Commits that write disjoint vars
	// prepare concurrently.
	//
	// A commit that writes the vars of several owners calls each Prepare in
	// turn; if a later one fails, the earlier ones are not told.
	Prepare(c *Commit) error
}

// Commit is a commit in progress as its Owner sees it in Prepare. The
// slices belong to the call: Prepare may keep them, but the commit does
// not look at them again.
type Commit struct {
	// Context is the context given to AtomicallyContext or AttemptContext,
	// or context.Background().
	Context context.Context
	// Clock is the commit's position in this process's version clock:
	// commits that touch a common var are ordered by Clock. It is not
	// persisted and means nothing to another process.
	Clock uint64
	// Reads holds the owner's vars that the transaction read and did not
	// write, once each, with the stamp of the value it read.
	Reads []Read
	// Writes holds the owner's vars that the transaction writes.
	Writes []Write
	// Published, if Prepare sets it, is called once the commit is visible
	// (its values published and its locks released), on the committing
	// goroutine, before the transaction returns. It must not start a
	// transaction.
	Published func()
}

// Read is an owned var that a committing transaction read.
type Read struct {
	// Var is the var read.
	Var   AnyVar
	Stamp uint64 // the stamp of the value read
}

// Write is an owned var that a committing transaction writes.
type Write struct {
	// Var is the var written.
	Var   AnyVar
	Value any    // the new value, of the var's type
	Prev  uint64 // the stamp of the value it replaces
	Stamp uint64 // the stamp it is published with: Prev+1, or the one given to SetStamped
}

// Conflict, returned by an Owner's Prepare (possibly wrapped), turns the
// refusal of a commit into a conflict: nothing is published, the commit's
// locks are released, Refresh (if not nil) runs, and the transaction is
// rerun, in Atomically and Attempt alike. Refresh runs outside any
// transaction and may start transactions; if it fails, the transaction
// fails with its error. Package world uses it when a store reports that a
// commit's reads are stale: Refresh installs the store's fresh values.
type Conflict struct {
	Err     error        // why the commit was refused
	Refresh func() error // brings vars up to date before the rerun; may be nil
}

// Error says that the commit was refused and why.
func (c *Conflict) Error() string {
	return fmt.Sprintf("stm: commit refused, transaction rerun: %v", c.Err)
}

// Unwrap returns why the commit was refused.
func (c *Conflict) Unwrap() error { return c.Err }

// Handoff, returned by an Owner's Prepare, says that the commit is done
// but its writes are to become visible through Refresh, together with
// other values, rather than by the commit itself: nothing is published, the
// commit's locks are released, Refresh runs, and the transaction returns
// its result as committed. Package world uses it when its store accepted a
// commit while the world was behind: Refresh installs the store's newer
// values and the commit's own writes in one transaction, so that the world
// never shows the commit without the commits that preceded it. If Refresh
// fails, the transaction returns its error.
type Handoff struct {
	// Refresh publishes the commit's writes with the values it brings.
	Refresh func() error
}

// Error says that the commit was handed off.
func (h *Handoff) Error() string { return "stm: commit handed off to its owner" }

// owned is what an owned var has beyond an anonymous one.
type owned struct {
	name  string
	owner Owner
	stamp atomic.Uint64 // stamp of the current value; written under the var's lock
	self  AnyVar
	value func(w *writeEntry) any // the new value of a write entry of this var
}

// NewOwned returns a new var called name, owned by o, holding initial with
// the given stamp.
//
// A stamp is a number kept with each value of an owned var, read and
// written atomically with it, that the owner uses to version values (package
// world keeps there the store version each value came from). Every commit
// that writes the var publishes the new value with its old stamp plus one,
// unless the transaction gave another with SetStamped.
//
// o must be comparable (a pointer, typically): commits group writes by
// owner. NewOwned panics if it is not.
func NewOwned[T any](o Owner, name string, initial T, stamp uint64) *Var[T] {
	if o != nil && !reflect.TypeOf(o).Comparable() {
		panic(fmt.Sprintf("stm: NewOwned(%q): the Owner, a %T, is not comparable; use a pointer", name, o))
	}
	v := NewVar(initial)
	own := &owned{name: name, owner: o, self: v}
	own.stamp.Store(stamp)
	if v.core.inPlace {
		own.value = func(w *writeEntry) any { return fromWord[T](w.word) }
	} else {
		own.value = func(w *writeEntry) any { return *(*T)(w.p) }
	}
	v.core.own = own
	return v
}

// Stamp reads v in tx, like Get, and returns the stamp of the value read
// (0 for an anonymous var). A value tx has written has no stamp yet: Stamp
// reads the committed value as of tx's snapshot.
func (v *Var[T]) Stamp(tx *Tx) uint64 {
	c := &v.core
	if c.own == nil {
		return 0
	}
	for spins := 0; ; spins++ {
		ver := c.lock.Load()
		if ver&locked == 0 {
			s := c.own.stamp.Load()
			if c.lock.Load() == ver {
				tx.noteRead(c, ver)
				return s
			}
		}
		tx.waitUnlocked(c, ver, spins)
	}
}

// SetStamped is Set, and the value is published with the given stamp
// instead of its old one plus one. It lets an owner install a value it
// got from elsewhere (package world: a fresher value from the store). On
// an anonymous var it is Set.
func (v *Var[T]) SetStamped(tx *Tx, x T, stamp uint64) {
	v.Set(tx, x)
	if v.core.own != nil {
		w := &tx.writes[tx.findWrite(&v.core)]
		w.stamp, w.stamped = stamp, true
	}
}

// prepare computes the stamps of tx's owned writes and calls the Prepare
// of each owner tx writes to. tx's writes are locked and its reads
// validated.
func (tx *Tx) prepare(clock uint64) error {
	var owners []Owner
	for i := range tx.writes {
		w := &tx.writes[i]
		own := w.c.own
		if own == nil {
			continue
		}
		if !w.stamped {
			w.stamp = own.stamp.Load() + 1
		}
		if own.owner != nil && !slices.Contains(owners, own.owner) {
			owners = append(owners, own.owner)
		}
	}
	ctx := tx.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	for _, o := range owners {
		c := &Commit{Context: ctx, Clock: clock}
		for i := range tx.writes {
			w := &tx.writes[i]
			if own := w.c.own; own != nil && own.owner == o {
				c.Writes = append(c.Writes, Write{Var: own.self, Value: own.value(w), Prev: own.stamp.Load(), Stamp: w.stamp})
			}
		}
		for _, r := range tx.reads {
			own := r.c.own
			if own == nil || own.owner != o || tx.findWrite(r.c) >= 0 ||
				slices.ContainsFunc(c.Reads, func(x Read) bool { return x.Var == own.self }) {
				continue
			}
			// The stamp of the version read: the var must still be at that
			// version and unlocked (a commit publishing it may be changing
			// the stamp). If not, it changed after this transaction's
			// snapshot, which is fine locally but would tell the owner a
			// stamp this transaction did not read: rerun.
			s := own.stamp.Load()
			if r.c.lock.Load() != r.ver {
				return errConflict
			}
			c.Reads = append(c.Reads, Read{Var: own.self, Stamp: s})
		}
		if err := o.Prepare(c); err != nil {
			return err
		}
		if c.Published != nil {
			tx.published = append(tx.published, c.Published)
		}
	}
	return nil
}
