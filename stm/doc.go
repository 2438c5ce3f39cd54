// Package stm is software transactional memory for Go: typed transactional
// variables, atomic transactions over any number of them, blocking with
// Retry and alternatives with OrElse. It imports nothing of amber; named,
// versioned and durable vars are built on it by package world, through one
// extension point (Owner).
//
// # Basics
//
// A Var[T] holds a value of type T. A transaction is a function of a *Tx,
// run by Atomically; it reads vars with Get, writes them with Set, and either
// all of its writes become visible at once or none do:
//
//	from, to := stm.NewVar(100), stm.NewVar(0)
//	_, err := stm.Atomically(func(tx *stm.Tx) (struct{}, error) {
//		if from.Get(tx) < 10 {
//			return struct{}{}, errors.New("insufficient funds") // rolls back
//		}
//		from.Set(tx, from.Get(tx)-10)
//		to.Set(tx, to.Get(tx)+10)
//		return struct{}{}, nil
//	})
//
// Outside a transaction, Load reads one var and Store writes one var (a
// transaction of its own).
//
// # Consistency
//
// The implementation follows TL2: a global version clock, a version per var,
// and versioned reads. Every Get checks the var against the transaction's
// snapshot, so a running transaction never observes an inconsistent state,
// not even before it commits (a transaction that would is rerun at once).
// Unlike STMs that only validate at commit, a transaction body can therefore
// rely on invariants between vars, and cannot loop or panic because of a torn
// read. Read-only transactions take no locks, are never validated at commit,
// and are not disturbed by commits to vars they did not read. Writing
// transactions lock only the vars they write, and only while committing.
// (Vars that many processes share through a store, package world, keep
// this within a process; across processes the store validates writing
// transactions, and a read-only one reads a consistent, possibly slightly
// old, snapshot.)
//
// # Blocking: Retry and OrElse
//
// tx.Retry abandons the attempt and blocks until a var the transaction has
// read is changed by another commit; then the transaction is rerun. There is
// no polling and no lost wake-up: a change that lands between the read and
// the wait wakes the waiter at once.
//
//	item, _ := stm.Atomically(func(tx *stm.Tx) (string, error) {
//		q := queue.Get(tx)
//		if len(q) == 0 {
//			tx.Retry() // wait until queue changes
//		}
//		queue.Set(tx, q[1:])
//		return q[0], nil
//	})
//
// OrElse(tx, first, second) runs second if first retries, discarding first's
// writes; if both retry, the whole transaction waits on the vars either
// branch read. AtomicallyContext gives up waiting when its context is done.
//
// Attempt runs a transaction once without blocking: when it retries,
// Attempt returns a *Wait whose Done channel closes when the transaction is
// worth rerunning. Interpreters use it so that a waiting task holds no
// goroutine.
//
// # Errors and panics
//
// An error returned by the transaction function rolls the transaction back
// and is returned by Atomically; a panic rolls it back and is raised again in
// the caller. Starting a transaction inside another (Atomically inside the
// function given to Atomically, Var.Store inside a transaction, or either
// inside an Owner's Prepare) is an error wrapping ErrNested: pass the *Tx down
// instead, so that the parts compose into one transaction.
//
// # Values and mutation
//
// A Var copies its value in and out by T's own copy semantics. For a map,
// a slice, or a struct holding pointers, the copy is shallow: Get returns
// the same backing array or map that other transactions see. Mutating it in
// place (m[k] = v, s[i] = x, append into spare capacity) bypasses the STM: the
// change is visible to everyone at once, is not rolled back, wakes nobody,
// and races with concurrent readers. That is a bug.
//
// Treat values as immutable and write a new one (copy-on-write); Modify
// makes that the short way:
//
//	stm.Modify(tx, prices, func(m map[string]int) map[string]int {
//		m = maps.Clone(m)
//		m["tea"] = 3
//		return m
//	})
//	stm.Modify(tx, names, func(s []string) []string {
//		return append(slices.Clip(s), "ann") // never appends into shared capacity
//	})
//
// # Cost
//
// A read is a few loads and writes nothing shared, so read-only
// transactions scale with cores. A commit that writes locks each var it
// writes with one CAS, takes a version from the global clock, and
// publishes. A var whose type holds no
// pointers and fits in 8 bytes (int, float64, bool, small structs of them)
// keeps its value in place, so writing it allocates nothing; any other var
// allocates a copy of the value per write, because a concurrent reader may
// still be copying the old one.
//
// # Owners
//
// An Owner takes part in the commits that write its vars (NewOwned): its
// Prepare sees the commit's writes and reads of its vars after the commit
// has locked and validated them and before anything is visible, and may
// refuse the commit, or have it rerun after refreshing vars (Conflict).
// The commit holds its locks while Prepare runs (for a store, a round
// trip): a transaction that meets one of them spins briefly, then gives up
// its attempt and sleeps until that commit publishes or is refused, and
// reruns once, instead of rerunning in a loop meanwhile.
// Each owned var also carries a stamp, kept with its value, that the owner
// uses to version values against an outside store. Package world is the
// owner amber uses: named vars, snapshots, commit hooks, and one world
// shared by many processes through a store.
//
// # Caveats
//
//   - A transaction function may run several times; it must not have
//     effects other than through its *Tx (no I/O, no sends on channels).
//   - A *Tx is valid only during the call it was passed to, on that
//     goroutine. Load inside a transaction is not part of it.
//   - Retry and conflicts unwind the transaction function with panics that
//     the package recovers. A deferred recover in the function may intercept
//     them; the package still honours them, but it is better not to recover
//     blindly inside a transaction.
//   - A transaction that calls Retry before reading any var could never be
//     woken: it fails with ErrRetryNoReads.
//   - Commit versions order commits within one process run only; they are
//     not persisted.
package stm
