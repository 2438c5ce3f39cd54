// Package stm is software transactional memory for Go: typed transactional
// variables, atomic transactions over any number of them, blocking with
// Retry and alternatives with OrElse, and a World of named variables that can
// be snapshotted, restored and persisted commit by commit.
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
// inside a commit hook) is an error wrapping ErrNested: pass the *Tx down
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
// # Worlds and durability
//
// A World is a set of named vars (Named, NamedE), the shared state of a
// durable program. World.Snapshot encodes all of its vars, read in one
// transaction, as a deterministic CBOR map from name to value (Core
// Deterministic Encoding: equal states give equal bytes); World.Restore
// decodes such a map into each var's own type, atomically and without ever
// panicking on corrupt input. A value restored for a name that is not
// declared yet is kept until the var is declared, so a World can be restored
// before the code that declares its vars runs.
//
// World.OnCommit installs a commit hook: a function called for every commit
// that writes at least one of the World's vars, with the commit's version,
// the new values of those vars (encoded as CBOR, in name order) and the
// context given to AtomicallyContext or AttemptContext. The hook runs inside
// the commit: after the commit has locked its vars and validated its reads,
// and before any of its writes is visible. So:
//
//   - a durable interpreter persists the writes in the hook (in the same
//     store transaction as the task step that made them, which it can
//     identify through Commit.Context) and only returns once they are
//     durable: no other transaction, and no Load, can observe a write that
//     is not yet durable;
//   - if the hook returns an error, the commit is abandoned, nothing is
//     published, and Atomically returns the error (wrapped).
//
// While a hook runs, transactions that read or write the committing vars
// wait for it (spinning briefly, then backing off), so a hook should be
// quick or should wait on a group commit shared by many transactions.
// Commits that touch disjoint vars run their hooks concurrently. A hook must
// not start a transaction (ErrNested) and must not block on a transaction of
// another goroutine. Restore does not call the hook.
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
