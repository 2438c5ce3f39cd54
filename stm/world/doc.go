// Package world gives stm vars names and versions, so that they can be
// snapshotted, restored, made durable commit by commit, and shared by
// many processes through one store. A durable amber interpreter keeps the
// shared state of its tasks in a World.
//
// # Basics
//
// A World is a set of named vars. Named declares one (get-or-create) and
// returns an ordinary *stm.Var, read and written by stm transactions:
//
//	w := world.New()
//	stock := world.Named(w, "stock", 10)
//	_, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
//		return stm.Modify(tx, stock, func(n int) int { return n - 1 }), nil
//	})
//
// Each var's value carries a version: 0 for the initial value given to
// Named, and one more with every commit that writes it. Values are encoded
// with amber's one CBOR configuration (internal/codec: Core Deterministic
// Encoding, exact times).
//
// # Snapshots
//
// Snapshot encodes all vars, read in one transaction, with their versions,
// as a deterministic CBOR map (equal states give equal bytes). Restore
// installs a snapshot, and Refresh installs values read from a store; both
// replace a var's value only with a newer version, change nothing on bad
// input (never panicking on corrupt bytes), and keep the values of names
// not declared yet until they are declared, so a World can be loaded before
// the code that declares its vars runs.
//
// # Commit hooks
//
// OnCommit installs a hook, called for every commit that writes at least
// one of the World's vars, after the commit has locked its vars and
// validated its reads, and before any of its writes is visible. It
// receives the commit's Writes (name, encoded value, Prev: the version
// replaced; the new value gets Prev+1), its Reads (the World's vars it read
// and did not write, with the versions read), and the context given to
// stm.AtomicallyContext or stm.AttemptContext. So:
//
//   - a durable interpreter stores the writes in the hook, in the same
//     store transaction as the task step that made them (which it finds
//     through Commit.Context), and returns once they are durable: nothing
//     can observe a write that is not;
//   - if the hook returns an error, nothing is published and the
//     transaction returns the error (wrapped), except for a *StaleError,
//     below.
//
// While a hook runs, transactions that touch the committing vars wait for
// it, so a hook should be quick or wait on a group commit shared by many
// transactions; commits of disjoint vars run their hooks concurrently. A
// hook must not start a transaction (stm.ErrNested). Restore and Refresh
// do not call it.
//
// # Many processes
//
// Several processes can share one World through a store that keeps a
// version per var and a clock that orders commits (amber's PostgreSQL
// store). The hook then asks the store to accept the commit only if every
// version it read (Reads) and replaces (Writes[i].Prev) is still the
// store's, and to write each value at Prev+1: a write is never blind, so
// no commit is lost, not even a dead process's late one. The store
// validates every writing transaction; the World's own locks only order
// the transactions of one process.
//
// When the store refuses, the hook returns a *StaleError (matching
// ErrStale) carrying a cut of the store: every value written after the
// commit's Synced clock, up to the store's clock. The World installs it
// and the transaction reruns on the fresh values, in stm.Atomically and
// stm.Attempt alike; nothing of the refused commit was visible.
//
// When the store accepts, the hook reports the store's clock and what was
// written since Synced (Commit.Landed: a cut, which may hold the commit's
// own values). If nothing but this commit landed since Synced, the commit
// is published as usual and Synced moves to its clock. Otherwise the World
// installs the cut and the commit's writes in one transaction, so that it
// never shows this commit without the ones before it. A process also refreshes when the store tells it
// that others committed (World.Synced says from which clock to ask); that
// wakes the transactions waiting with Retry on the vars that changed.
//
// The World therefore always shows a state the store went through, perhaps
// not the latest one. Read-only transactions take no locks and are not
// validated by the store: across processes they are serializable at that
// consistent, possibly slightly old, snapshot. Writing transactions are
// serializable across processes: the store validates them.
//
// A hook that never calls Landed runs the World unclocked: every accepted
// commit is published as is, which is exact when one process writes the
// store.
//
// # Caveats
//
//   - Commit.Synced, Landed and the StaleError's cut rely on the store's
//     clock: values with the versions of another store make no sense.
//   - A StaleError that holds no newer version of any var the commit read
//     or wrote would make the transaction rerun forever; the World fails it
//     instead, with an error wrapping the hook's.
//   - A transaction that writes the vars of two Worlds calls both hooks, one
//     after the other; if the second refuses, the first has stored the
//     commit for nothing and is not told.
package world
