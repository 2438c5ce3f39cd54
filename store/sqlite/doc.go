// Package sqlite is the embedded store of the durable interpreter: one SQLite
// file (modernc.org/sqlite, pure Go, no cgo) that holds tasks, journals,
// mailboxes, timers, leases and the STM world.
//
//	s, err := sqlite.Open("./amber.db", nil)
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer s.Close()
//
// # Group commit
//
// Every write (Create, Claim, ClaimID, Commit, Wake, Send, Cancel) is queued
// to a single writer goroutine that owns the only writing connection. It
// applies the queued writes, and those that arrive meanwhile, in one
// transaction. A write refuses (a lost lease, an existing ID, stale world
// vars) before it writes anything, so that it leaves no trace while the
// others commit. A write that the database refuses by its own fault (a
// constraint, a value too big) is refused alone: the transaction is rolled
// back and run again without it. Any other database error fails the whole
// transaction. Statements are prepared once
// on the writer's connection, and once per connection of the read pool.
// A call returns once the transaction holding its write is durable, so
// throughput comes from many writers sharing one fsync. Reads (Load,
// Messages, List, World) use a separate pool of read-only connections and,
// thanks to WAL, never wait for the writer.
//
// # One worker process
//
// A SQLite store has one worker process: the one that claims and commits.
// Open (ModeWorker, the default) takes an exclusive lock (flock) on a
// sidecar file, path + ".lock", in which it writes who it is; a second
// worker Open of the file, from this process or another, fails with a
// *LockedError that names the file and the holder. The kernel releases the
// lock when its process ends, however it ends, so a worker that opens the
// file knows that every lease in it belonged to a dead process: it
// releases them and makes their tasks ready at once, as it does the tasks
// whose activity attempt was running when their worker died (a column,
// running, says so), instead of waiting out their leases and timeouts.
// TookOver says how many it took over.
//
// Beside the worker, other processes open the file as clients
// (ModeClient: Create, Send, Wake, Cancel and reads; the CLI's send and
// cancel) or read-only (ModeReadOnly: the CLI's list and show, the
// inspector). Neither takes the lock, creates the file or its schema. Use
// store/postgres to run several workers.
//
// # The world
//
// World vars are rows of table world (name, value, version, clock). The
// writer checks the versions a step names against the rows inside the
// transaction, before the step writes anything: nothing else writes the
// file, so nothing can change them in between. A transaction that writes
// vars takes the next world clock for all of them; the clock is the
// largest in the table.
//
// # Durability
//
// The file is in WAL mode with synchronous=FULL: a call that returned is on
// disk. Options.Synchronous = "NORMAL" skips the fsync of each commit; the
// database stays consistent, but a power loss (not a process crash) can lose
// the last commits, which a worker may already have acted upon.
//
// # Caveats
//
//   - One worker process (see above). The lock is an flock, which some
//     network file systems do not honour, and which is not taken on
//     platforms that are not Unix: there, nothing refuses a second worker.
//     A client's writes are ordered among the worker's by SQLite's own
//     locking; the worker learns of them when it next polls Claim.
//   - Each journal entry and message is stored with its task.Checksum. A
//     row whose bytes no longer match it, or that does not decode (a
//     corrupt journal entry, envelope or wait), makes Load and Messages
//     fail with a *store.CorruptError, which matches task.ErrCorrupt and
//     names the task and the row ("journal seq 3 is corrupt"); other tasks
//     are unaffected.
//   - A read-only file fails Open; a full disk fails the writes of the
//     transaction that hit it, and nothing of them is applied.
package sqlite
