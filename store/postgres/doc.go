// Package postgres is a store.Store on PostgreSQL (through pgx/v5): many
// worker processes on many machines share one database, and a task runs on
// one worker at a time.
//
//	s, err := postgres.Open(ctx, "postgres://amber@db/amber", nil)
//	if err != nil { ... }
//	defer s.Close()
//	// hand s to the durable interpreter; s.Ready() wakes it (store.Notifier)
//
// # Schema
//
// Open creates the schema (Options.Schema, default "amber") if needed and
// applies the embedded migrations (migrations/NNNN_name.sql) that are
// missing, in order, in one transaction under an advisory lock, recording
// them in schema_migrations. Tables: tasks (one row per task, with its
// lease and readiness, and its process state: exit flag, registered name),
// journal (task_id, seq, task.EncodeEntry bytes), mailbox (task_id, seq,
// envelope, and the tag of an exit signal), links (the links and monitors
// between tasks) and world (name, value). Every column that holds a task
// ID is in byte order (COLLATE "C"), whatever the database's collation, so
// that IDs sort as in every store and the primary key serves the listing
// by ID. The view tasks_view shows the tasks with readable times. Journal entries and messages are stored with
// their task.Checksum (column sum), checked when they are read: a damaged
// row is a *store.CorruptError that names it, never a wrong value.
//
// Times are stored as Unix nanoseconds (bigint), not timestamptz: the
// interpreter's clock may be virtual and its times must come back exactly
// (timestamptz keeps microseconds). The store never compares them with the
// database's clock; leases and timers are judged by the now given to Claim.
//
// # Claiming and fencing
//
// Claim is one statement: it picks up to max rows with FOR UPDATE SKIP
// LOCKED (expired leases first, then woken tasks in the order they were
// woken, then due timers by run_at, through two partial indexes) and leases
// them, bumping their epoch. Commit locks every row its steps touch in ID
// order (so concurrent commits cannot deadlock), checks each step's fence
// (owner, epoch and version) in Go, and applies the steps that pass with a
// handful of set-based statements, whatever their number, then COMMIT: two
// round trips per group commit. A Commit of a single step that touches its
// task's row alone (entries, status, wait, lease: every step of a program
// of activities) takes one: a statement whose UPDATE is the fence and whose
// journal INSERT runs only if it held; a step it refuses goes the general
// way, which names the refusal. A lease that expired but that no one took
// over may still commit: the epoch, not the clock, is the fence.
//
// Ending a task that has (or had) links, monitors or a name takes a third
// round trip, to lock the peers of its links and the watchers of it, and
// read them; the comment at the top of process.go explains why no exit
// signal is lost to a commit that links the task concurrently, and why
// commits still cannot deadlock.
//
// # The world
//
// World vars are rows of table world (name, value, version, clock), and
// the world clock one row of world_clock. A commit whose steps write or
// read vars takes, in its first round trip, a transaction-scoped advisory
// lock per var (exclusive for a var written, shared for one only read,
// after the locks of registered names and before the task rows, in key
// order), and reads the vars: the versions each step names are checked in
// Go against those rows, and no other commit can change them until this
// one ends. A stale step is refused with a *store.StaleError carrying the
// current rows; it costs no extra round trip, and the other steps commit.
// Commits that only read a var do not wait for each other; a commit that
// writes one waits for the commits that hold it.
//
// A commit that writes vars takes the next clock in its last round trip,
// just before COMMIT (UPDATE world_clock), stamps its rows with it and
// NOTIFYs "amber_world.<schema>" with it. The clock row's lock is held
// until the commit ends, so world commits are serialized from there to
// COMMIT (one WAL flush each) and become visible in clock order; commits
// that write no var never touch it. World and WorldSince read the clock
// and the rows in one REPEATABLE READ snapshot. WorldCommitted (a
// store.WorldNotifier) passes on the clock of each world commit of any
// process; WorldClock reads it, one row, for polling.
//
// # Wake-ups
//
// Create, Send, Wake, Cancel, and commits that send, spawn, release a
// running task or set a timer within PollInterval NOTIFY the channel
// "amber_ready.<schema>" inside their transaction. Ready is fed by a
// dedicated LISTEN connection that reconnects with backoff; workers poll
// Claim as well, so a lost notification only delays a task.
//
// # Caveats
//
//   - A connection that breaks while COMMIT is in flight leaves the client
//     unsure whether the step committed. Landed tells, from the token each
//     commit records on the rows it writes (tasks.token, world.token):
//     landed, not landed (commit it again), or superseded (reload).
//     Retrying blindly is safe too: if it did commit, the retry is refused
//     (the lease was released and the step count moved on; world writes
//     name the versions they replace).
//   - Claim and ClaimID are not retried on a broken connection: a claim that
//     committed unseen holds the task until its lease expires.
//   - NOTIFY serializes committing transactions on PostgreSQL's notification
//     queue; commits that make nothing ready soon do not notify.
//   - Times before 1678 or after 2262 are clamped to what Unix nanoseconds
//     in an int64 can hold.
package postgres
