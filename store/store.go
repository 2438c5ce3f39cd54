// Package store is the durable interpreter's persistence: tasks, their
// journals and mailboxes, timers, leases, and the STM world. One Store
// interface, one contract suite (store/storetest) that every store passes;
// store/sqlite is the embedded default, store/postgres scales out to many
// worker processes on one database.
//
// # Model
//
// A task is a row: its record (program, version, input, status, wait),
// an append-only journal, and a mailbox of messages with per-task sequence
// numbers. A worker leases a task to run one step, and commits the step
// (journal entries, consumed messages, status and wait, outgoing messages,
// spawned tasks, STM world writes) in one transaction, fenced by the
// lease's epoch: a worker that lost its lease cannot commit. Committing a
// step releases the lease.
//
// A task is ready to be claimed when it is new, when something woke it (a
// message, a cancel request, Wake), or when its RunAt time has come (a
// timer, an activity's next attempt or timeout). Claim also takes over
// tasks whose lease has expired.
//
// # Refusals and unknown outcomes
//
// Commit refuses a step alone (its error in the returned slice): a lease
// lost, entries that do not continue the journal, a spawn of an existing
// task, a name taken, stale world vars, a value the codec would not read
// back, a malformed step (Step.Check), or a write the database refuses by
// the step's own fault. The other steps of the Commit commit. A Commit
// whose outcome its caller could not learn (a broken connection during
// COMMIT) is resolved by Landed, from the Token the step carries.
//
// Journal entries and messages are stored with a checksum
// (task.Checksum): a damaged row is a *CorruptError, never a wrong value.
// A ContinueAsNew (Step.Restart) counts a run (task.Record.Runs).
//
// # World
//
// The STM world is a set of named vars, each a row with a value and a
// version: the count of writes committed to it (1 for its first value).
// Nothing writes a var blind. A write names the version it replaces
// (WorldWrite.Prev, 0 for a var that must not exist yet) and makes version
// Prev+1; a step also names the versions of the vars its transactions read
// and did not write (Step.WorldReads). The store checks them all inside
// the transaction that commits the step, against the rows as the commits
// before it (the earlier steps of the same Commit included) left them, and
// no commit can change those rows between the check and the write. A step
// with any of them stale is refused with a *StaleError (matching ErrStale)
// that carries the current rows of the stale vars, so that the caller can
// refresh its copy and run the transaction again without another round
// trip; nothing of the step is applied, and the other steps of the Commit
// commit. A step without a task (ID "") is checked the same way. So a
// late commit (a worker killed with its COMMIT in flight, which lands
// after its successor loaded the world) can never be overwritten: its
// successor's write names the version before it and is refused.
//
// A world clock orders the commits that write vars: each takes the next
// clock value for all the vars it writes, and commits become visible in
// clock order. World returns every var and the clock of a consistent
// snapshot; WorldSince(c) returns the vars written after clock c, in one
// snapshot: a worker keeps its copy current with it, and a store shared by
// several processes tells them the clock of each world commit
// (WorldNotifier). What validation costs, and how conflicts wait, depends
// on the store: see its documentation.
//
// A task that waits in an STM Retry names the vars it read, at the
// versions read (Step.WaitWorld): the store keeps these waits, and a
// commit that writes one of the vars makes the waiting tasks ready in the
// same transaction (a task that took a step since is left alone: its
// waits are stale). So a Retry is woken whichever worker commits the
// write, even when the worker that ran the task died or evicted it from
// memory. A wait is kept until the var's next write.
package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// Store persists tasks. Implementations are safe for concurrent use.
//
// Store is the interface between the durable interpreter and its storage,
// not a frozen API: it grows with amber (a new method, a new field in Step
// or Summary), in minor releases too. Implement it only against
// store/storetest, which checks a store for everything the interpreter
// relies on and grows with it; expect to add to an implementation when you
// upgrade. Programs use a Store through the interpreter (interp.NewDurable)
// and the CLI, and call its methods directly only to inspect tasks.
type Store interface {
	// Create inserts new tasks, ready to run (a record's RunAt is kept as
	// its timer, and its Runs as its run count). A task whose ID exists
	// fails the whole call with an error matching ErrExists.
	Create(ctx context.Context, recs ...*task.Record) error

	// CreateClaimed is Create and ClaimID in one transaction: it inserts
	// the new tasks leased to owner, as if ClaimID(owner, id, now, lease)
	// had claimed each at once, and returns their leases in the order of
	// recs. How a worker starts a task it runs itself with one commit
	// instead of two. A task whose ID exists fails the whole call with an
	// error matching ErrExists.
	CreateClaimed(ctx context.Context, owner string, now time.Time, lease time.Duration, recs ...*task.Record) ([]Lease, error)

	// Claim leases up to max ready tasks to owner for the lease duration,
	// oldest ready first, skipping tasks leased to others (unless their
	// lease expired). now is the caller's clock. With can given, only
	// tasks whose (program, version) is among can are claimed (the query
	// filters: a task no worker can run is never claimed and bounced);
	// without, any task.
	Claim(ctx context.Context, owner string, max int, now time.Time, lease time.Duration, can ...task.ProgramVersion) ([]Lease, error)

	// Status returns the status of task id, or an error matching
	// ErrNotFound.
	Status(ctx context.Context, id string) (task.Status, error)

	// ClaimID leases the task id to owner whether or not it is ready. It
	// fails with ErrLeased if another owner holds an unexpired lease, with
	// ErrNotFound if there is no such task, and with ErrFinished if the
	// task has finished.
	ClaimID(ctx context.Context, owner, id string, now time.Time, lease time.Duration) (Lease, error)

	// Renew extends to now+lease each lease of ls that owner still holds:
	// its task is not finished and is leased to owner under the lease's
	// epoch, expired or not (a lease no other worker took over is still
	// owner's). It returns the IDs of the others, whose leases are lost,
	// and changes nothing else: not the epoch, so a step committed under a
	// renewed lease is fenced as before, nor the task's readiness. How a
	// worker keeps a task whose activity attempt outlives the lease.
	Renew(ctx context.Context, owner string, now time.Time, lease time.Duration, ls ...Lease) (lost []string, err error)

	// Load returns a task's record with its whole journal (Record.Mailbox
	// is left empty), its process state (Record.Trap, Record.Name), its
	// run count and timer (Record.Runs, Record.RunAt) and its unreceived
	// messages, exit signals (task.SignalType) among them.
	Load(ctx context.Context, id string) (*task.Record, []Message, error)

	// Messages returns the unreceived messages of task id with a sequence
	// number above after: how a worker that keeps a task in memory catches
	// up.
	Messages(ctx context.Context, id string, after uint64) ([]Message, error)

	// Commit applies the steps in one transaction (group commit). A step
	// whose lease is no longer held (another owner, another epoch, an
	// expired lease taken over) or whose Steps is not the task's count of
	// committed steps is refused: its error in the returned slice matches
	// ErrLeaseLost, and nothing of it is applied; the other steps commit.
	// The returned error is for the call as a whole (the database
	// failed): then nothing was applied, except where its caller cannot
	// tell (a connection broken during COMMIT; a store that splits a
	// group into two transactions, as store/postgres does, when the
	// second one fails): each step's fate is then asked of Landed.
	Commit(ctx context.Context, steps []Step) ([]error, error)

	// Wake makes the tasks ready.
	Wake(ctx context.Context, ids ...string) error

	// Send appends a message to the mailbox of task to and makes it ready.
	// It fails with ErrNotFound for an unknown task and ErrFinished for a
	// finished one.
	Send(ctx context.Context, to string, env task.Envelope) error

	// Cancel asks for task id to be cancelled: it is made ready with its
	// lease's Cancel flag set, and the worker that claims it ends it.
	Cancel(ctx context.Context, id string) error

	// List returns summaries of the tasks matching f, in f's Order, up
	// to f.Limit of them (0: all) after f.After: one page. The next page
	// is the one After the last summary's Cursor. A page costs an index
	// walk from the cursor, not a count of the tasks before it.
	List(ctx context.Context, f Filter) ([]Summary, error)

	// Counts returns the number of tasks matching f in each status (f's
	// Order, After and Limit are ignored).
	Counts(ctx context.Context, f Filter) (map[task.Status]int, error)

	// World returns a consistent snapshot of the STM world: every var
	// with its version, and the world clock of the last commit it holds.
	World(ctx context.Context) (WorldSnapshot, error)

	// WorldSince returns the vars written by the world commits after
	// clock (the Clock of an earlier snapshot), in one consistent snapshot
	// whose Clock is the last commit it holds: applied over the earlier
	// snapshot, it gives what World would return.
	WorldSince(ctx context.Context, clock uint64) (WorldSnapshot, error)

	// WhereIs returns the ID of the unfinished task registered under
	// name, or "" if there is none.
	WhereIs(ctx context.Context, name string) (string, error)

	// Landed tells what became of step s, given to a Commit whose outcome
	// the caller could not learn (the connection broke while COMMIT was in
	// flight, the call timed out): whether it landed, did not land (and
	// may be committed again as it is), or was superseded (the store moved
	// on without the caller: reload). It finds the step by its Token. See
	// Outcome.
	Landed(ctx context.Context, s Step) (Outcome, error)

	// SetCurrent stores version as the one new tasks of program start
	// on, and logs the change. A retired version is refused (ErrRetired).
	SetCurrent(ctx context.Context, program string, version int) error

	// Current returns the stored current version of each program that
	// has one.
	Current(ctx context.Context) (map[string]int, error)

	// Retire marks a version of program retired, and logs the change.
	// It is refused with ErrInFlight if tasks of that version are in
	// flight (not finished), unless force, and with ErrIsCurrent if it is
	// the program's stored current version.
	Retire(ctx context.Context, program string, version int, force bool) error

	// Changes returns the change log's entries after seq since, oldest
	// first.
	Changes(ctx context.Context, since uint64) ([]Change, error)

	// Heartbeat records a worker's heartbeat (replacing its last one).
	Heartbeat(ctx context.Context, w WorkerInfo) error

	// Workers returns the last heartbeat of every worker that sent one,
	// by ID; WorkerInfo.Live tells the live ones.
	Workers(ctx context.Context) ([]WorkerInfo, error)

	// Versions describes every version of program ("" for all programs)
	// that has tasks, is current, is retired or that a live worker can
	// run, ordered by program and version (see MakeVersions).
	Versions(ctx context.Context, program string) ([]VersionInfo, error)

	// Migrate re-pins a task to another version of its program, under
	// its lease: it is refused with an error matching ErrLeaseLost unless
	// r's lease is still held, the task's committed steps are still
	// r.Steps, and it still runs r.From. The move counts as a step (so a
	// worker that holds the task in memory reloads it), releases the
	// lease, makes the task ready, is recorded in the task
	// (task.Record.Migrations) and logged (ChangeMigrate).
	Migrate(ctx context.Context, r Repin) error

	// Close releases the store's resources.
	Close() error
}

// Lease is a claim on a task: the right to run one step of it.
type Lease struct {
	// ID is the leased task.
	ID    string
	Epoch uint64 // increases with every claim of the task
	// Steps counts the task's committed steps: a worker that keeps the
	// task in memory after that many steps only needs its new messages.
	Steps uint64
	// Cancel reports that a client asked for the task to be cancelled.
	Cancel bool
}

// Message is a mailbox entry.
type Message struct {
	Seq uint64 // increasing per task
	// Env is the message.
	Env task.Envelope
}

// Step is what one step of one task commits. A Step with an empty ID
// carries only World writes (an STM commit made outside any task): it is
// not fenced and touches no task.
type Step struct {
	// ID is the task; Owner and Epoch are the lease the step runs
	// under, checked by Commit (the fence).
	ID    string
	Owner string
	Epoch uint64
	Steps uint64 // the task's committed steps when the step began; it commits Steps+1
	// Token identifies the step's commit: random and not 0, set by the
	// worker (NewToken). The store records it with the commit, so that
	// Landed can tell whether the step landed.
	Token uint64

	Append   []task.Entry // journal entries, continuing the task's sequence
	Consumed []uint64     // sequence numbers of the messages received

	// Status, Reason and Wait are the task's state after the step: what
	// List and Load show, and what wakes the task.
	Status task.Status
	Reason string
	Wait   *task.Wait
	// RunAt makes the task ready at that time (a timer, an activity's
	// next attempt or deadline); zero for none.
	RunAt time.Time
	// Result and Err are set when the task finishes.
	Result []byte
	Err    *task.Error

	// Restart, if set, is a ContinueAsNew: the task's input becomes
	// Restart.Input, its journal is emptied before Append is applied (so
	// Append starts again at sequence number 1), and its run count
	// (task.Record.Runs) goes up by one, with the step. The mailbox is
	// kept.
	Restart *Restart

	Spawns []*task.Record // tasks to create, ready to run; created before Sends are delivered
	Sends  []Outgoing     // messages to other tasks' mailboxes; each target is made ready
	// World are the STM world vars the step writes, and WorldReads those
	// its transactions read and did not write. The step commits only if
	// every one of them is still at the version it names; otherwise it is
	// refused with a *StaleError (see the package documentation, World).
	World      []WorldWrite
	WorldReads []WorldRead
	// WaitWorld are the world vars that a task waiting in an STM Retry
	// read, at the versions it read: the task waits for one of them to
	// change. A later commit that writes any of them makes the task
	// ready, in the same transaction, if the task has taken no step
	// since; so does this commit if one of them is no longer at the
	// version named. Waits live in the store, not in a worker's memory:
	// the task is woken whichever worker writes the var, and whether or
	// not the worker that ran it is alive or still has it in memory.
	WaitWorld []WorldRead
	// Keep keeps the lease (until it expires, or longer if the worker
	// renews it: Renew) instead of releasing it.
	Keep bool

	// Proc holds the step's process ops (links, monitors, names, exit
	// flags, kills), applied in order after its Sends.
	Proc []ProcOp
	// Exit is the exit reason of a step that ends the task (effect.ExitNormal
	// when its program returned): the tasks linked to it and monitoring it
	// get it in an exit signal, delivered by the commit, after the step's
	// Sends. Its links, the monitors it holds and is the target of, and
	// its name are removed.
	Exit string
}

// Check reports what is wrong with s whatever the store holds, so that a
// store refuses it before it looks at anything: an unknown status, entries
// that are not consecutive (or a restart's that do not start at 1), a
// spawn twice of one ID, a malformed process op, and world vars written
// twice, read twice, read and written, or without a name. Stores call it
// first; a step it refuses changes nothing.
func (s *Step) Check() error {
	if s.ID != "" && !s.Status.Known() {
		return fmt.Errorf("unknown status %q: %w", s.Status, task.ErrInvalidRecord)
	}
	for i, e := range s.Append {
		if e.Seq != s.Append[0].Seq+uint64(i) {
			return fmt.Errorf("entries #%d then #%d: %w", s.Append[0].Seq, e.Seq, task.ErrInvalidJournal)
		}
	}
	if s.Restart != nil && len(s.Append) > 0 && s.Append[0].Seq != 1 {
		return fmt.Errorf("a restart begins its journal with #%d: %w", s.Append[0].Seq, task.ErrInvalidJournal)
	}
	for i, r := range s.Spawns {
		if slices.ContainsFunc(s.Spawns[:i], func(o *task.Record) bool { return o.ID == r.ID }) {
			return fmt.Errorf("spawn %s twice: %w", r.ID, ErrExists)
		}
	}
	for _, op := range s.Proc {
		if err := op.check(); err != nil {
			return err
		}
	}
	if len(s.WaitWorld) > 0 {
		if s.ID == "" {
			return errors.New("world waits without a task")
		}
		waits := make(map[string]bool, len(s.WaitWorld))
		for _, r := range s.WaitWorld {
			if r.Name == "" || waits[r.Name] {
				return fmt.Errorf("world var %q waited on twice or without a name", r.Name)
			}
			waits[r.Name] = true
		}
	}
	if len(s.World)+len(s.WorldReads) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(s.World)+len(s.WorldReads))
	for _, w := range s.World {
		if w.Name == "" || seen[w.Name] {
			return fmt.Errorf("world var %q written twice or without a name", w.Name)
		}
		seen[w.Name] = true
	}
	for _, r := range s.WorldReads {
		if r.Name == "" || seen[r.Name] {
			return fmt.Errorf("world var %q read twice, read and written, or without a name", r.Name)
		}
		seen[r.Name] = true
	}
	return nil
}

// NewToken returns a random Step.Token.
func NewToken() uint64 {
	for {
		if t := rand.Uint64(); t != 0 {
			return t
		}
	}
}

// Outcome is what became of a step whose commit the caller could not see
// through (Store.Landed).
type Outcome uint8

// The outcomes of a step.
const (
	// Landed: the step committed. For a task step, the task is at
	// Steps+1 and the last step committed is this one.
	Landed Outcome = iota + 1
	// NotLanded: the step did not commit, and nothing it would change
	// has changed: its task is still at its Steps under its lease (a
	// step without a task: the vars it writes are still at the versions
	// it names). It may be committed again as it is.
	NotLanded
	// Superseded: the store moved on without the caller: another lease
	// holds the task or further steps committed (a step without a task:
	// other commits wrote its vars). The store is the truth: reload the
	// task (or refresh the world) and go on from there; for a step
	// without a task, whether it landed cannot be told.
	Superseded
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Landed:
		return "landed"
	case NotLanded:
		return "not landed"
	case Superseded:
		return "superseded"
	}
	return fmt.Sprintf("store.Outcome(%d)", uint8(o))
}

// ErrNoToken is the error of Landed for a step without a Token.
var ErrNoToken = errors.New("store: the step has no token")

// ProcKind says what a ProcOp does.
type ProcKind uint8

// The process ops. In each, the step's task is "the task".
const (
	// ProcLink links the task and Peer. If Peer is unknown or has
	// finished when the step commits, the task is sent a link signal from
	// Peer with reason noproc instead (as if Peer ended right after the
	// link was made).
	ProcLink ProcKind = iota + 1
	// ProcUnlink removes the link between the task and Peer, and voids the
	// link signals from Peer still in the task's mailbox.
	ProcUnlink
	// ProcMonitor makes the task monitor Peer under Ref. If Peer is
	// unknown or has finished when the step commits, the task is sent a
	// Down signal for Ref with reason noproc instead.
	ProcMonitor
	// ProcDemonitor removes the task's monitor Ref, and voids its Down
	// signal if one is still in the task's mailbox.
	ProcDemonitor
	// ProcTrap sets whether the task traps exits (On).
	ProcTrap
	// ProcRegister registers the task under Name. A name held by another
	// unfinished task refuses the whole step with an error matching
	// ErrNameTaken; registering the same name twice is a no-op.
	ProcRegister
	// ProcKill sends Peer a kill signal with Reason; nothing if Peer is
	// unknown or has finished.
	ProcKill
)

// NoProc is the signal a ProcLink or ProcMonitor op gives its own task
// when its peer is unknown or has finished at commit: a link signal, or a
// Down for the op's Ref, from the peer with reason effect.ExitNoProc.
func NoProc(op ProcOp) task.Signal {
	if op.Kind == ProcMonitor {
		return task.Signal{Kind: task.SignalDown, From: op.Peer, Reason: effect.ExitNoProc, Ref: op.Ref}
	}
	return task.Signal{Kind: task.SignalLink, From: op.Peer, Reason: effect.ExitNoProc}
}

// ProcOp is a process op of a step.
type ProcOp struct {
	// Kind is the op; the fields below it that it uses are marked.
	Kind   ProcKind
	Peer   string // Link, Unlink, Monitor, Kill
	Ref    string // Monitor, Demonitor
	Name   string // TakeName (ProcRegister)
	Reason string // Kill
	On     bool   // Trap
}

// check reports a process op that misses what its kind needs.
func (op ProcOp) check() error {
	var bad string
	switch op.Kind {
	case ProcLink, ProcUnlink, ProcKill:
		if op.Peer == "" {
			bad = "no peer"
		}
	case ProcMonitor:
		if op.Peer == "" || op.Ref == "" {
			bad = "no peer or no ref"
		}
	case ProcDemonitor:
		if op.Ref == "" {
			bad = "no ref"
		}
	case ProcRegister:
		if op.Name == "" {
			bad = "an empty name"
		}
	case ProcTrap:
	default:
		bad = "unknown kind"
	}
	if bad != "" {
		return fmt.Errorf("process op %d: %s", op.Kind, bad)
	}
	return nil
}

// Restart is a ContinueAsNew.
type Restart struct {
	// Input is the encoding of the next run's input.
	Input []byte
}

// Outgoing is a message sent by a step. The durable interpreter fails a
// Send to a task that does not exist or has finished before the step
// commits (an *interp.NoTaskError), so that no message is dropped
// silently; Commit covers the receiver finishing in between: a message to
// a task that has finished is still stored in its mailbox (shown by List
// and Load). A message to a task that does not exist, which only a step
// built by hand can send (stores never delete tasks), is dropped.
type Outgoing struct {
	// To is the receiving task.
	To string
	// Env is the message.
	Env task.Envelope
}

// WorldWrite is the new value of a world var.
type WorldWrite struct {
	// Name names the var in the World.
	Name string
	// Value is the var's new value, encoded.
	Value []byte
	// Prev is the version of the value the write replaces; 0 means that
	// the var must not exist yet. The write makes version Prev+1.
	Prev uint64
}

// WorldRead is a world var a step read, at the version it read.
type WorldRead struct {
	// Name is the var's name, Version the version read (0: the var did
	// not exist).
	Name    string
	Version uint64
}

// WorldValue is a world var as committed.
type WorldValue struct {
	// Name is the var's name, Value its encoded value.
	Name  string
	Value []byte
	// Version counts the writes committed to the var: 1 for its first
	// value; 0 in a StaleError for a var that does not exist.
	Version uint64
	// Clock is the world clock of the commit that wrote this version.
	Clock uint64
}

// WorldSnapshot is a consistent view of the world: Vars (by name) hold
// every commit up to Clock and none after it.
type WorldSnapshot struct {
	// Clock is the world clock of the last commit the snapshot holds.
	Clock uint64
	// Vars are the world vars, by name.
	Vars []WorldValue
}

// Lookup returns the var name of the snapshot.
func (s WorldSnapshot) Lookup(name string) (WorldValue, bool) {
	i, ok := slices.BinarySearchFunc(s.Vars, name, func(v WorldValue, name string) int { return strings.Compare(v.Name, name) })
	if !ok {
		return WorldValue{}, false
	}
	return s.Vars[i], true
}

// Filter selects tasks for List. Zero fields match everything.
type Filter struct {
	// Status selects tasks with this status.
	Status task.Status
	// Program selects tasks running this program (any version, unless
	// Version is set too).
	Program string
	// Version selects tasks running this version of their program.
	Version int
	// WaitKind selects tasks whose Wait has this Kind (task.WaitReceive,
	// ...).
	WaitKind string
	// CreatedAfter and CreatedBefore bound the creation time: tasks
	// created at or after CreatedAfter, and before CreatedBefore.
	CreatedAfter, CreatedBefore time.Time
	IDContains                  string // a substring of the ID

	// Order is the order of the listing.
	Order Order
	// After continues a listing after a task (the last of the previous
	// page: Summary.Cursor); the zero Cursor starts at the beginning.
	After Cursor
	Limit int // at most this many; 0 for all
}

// Order is the order of List.
type Order uint8

// The orders of List.
const (
	// ByID lists tasks by ID, ascending.
	ByID Order = iota
	// ByUpdated lists the most recently updated tasks first (then by ID,
	// descending).
	ByUpdated
)

// Cursor is a place in a listing: the task a page ends with.
type Cursor struct {
	// ID is the task's; Updated its Summary.Updated (for ByUpdated).
	ID      string
	Updated time.Time
}

// Cursor returns the place of s in a listing, for Filter.After.
func (s Summary) Cursor() Cursor { return Cursor{ID: s.ID, Updated: s.Updated} }

// Match reports whether s matches f's conditions (not its Order, After
// or Limit): what stores filter on.
func (f *Filter) Match(s *Summary) bool {
	kind := ""
	if s.Wait != nil {
		kind = s.Wait.Kind
	}
	return (f.Status == "" || s.Status == f.Status) &&
		(f.Program == "" || s.Program == f.Program) &&
		(f.Version == 0 || s.Version == f.Version) &&
		(f.WaitKind == "" || kind == f.WaitKind) &&
		(f.CreatedAfter.IsZero() || !s.Created.Before(f.CreatedAfter)) &&
		(f.CreatedBefore.IsZero() || s.Created.Before(f.CreatedBefore)) &&
		strings.Contains(s.ID, f.IDContains)
}

// Summary is a line of List.
type Summary struct {
	// ID, Program, Version, Status, Reason and Wait are the task's, as
	// in its record.
	ID      string
	Program string
	Version int
	Status  task.Status
	Reason  string
	Wait    *task.Wait
	Steps   uint64 // committed steps
	Runs    uint64 // restarts by ContinueAsNew (task.Record.Runs)
	Entries int    // journal length
	Pending int    // unreceived messages
	// RunAt is when the store makes the task ready if nothing wakes it
	// first (task.Record.RunAt); zero for none.
	RunAt time.Time
	// Created is when the task was created.
	Created time.Time
	// Updated is when a worker last took the task up: the clock of its
	// last claim (its creation time before any). Steps under a claim do
	// not change it: an indexed time changed by every step would cost
	// every step an index update.
	Updated time.Time
}

// Errors of stores; implementations wrap them with details.
var (
	ErrExists    = errors.New("store: task exists")
	ErrNotFound  = errors.New("store: no such task")
	ErrFinished  = errors.New("store: task has finished")
	ErrLeased    = errors.New("store: task is leased to another worker")
	ErrLeaseLost = errors.New("store: lease lost (stale epoch or step count)")
	ErrNameTaken = errors.New("store: name is registered to another task")
	ErrStale     = errors.New("store: stale world vars")
)

// StaleError refuses a step whose world reads or writes are not at the
// current versions of their vars (another commit changed them since they
// were read). It carries the current rows of those vars, so that the
// caller can refresh them and run its transaction again without another
// round trip. It matches ErrStale.
type StaleError struct {
	Task  string       // the step's task; "" for a step of world writes alone
	Fresh []WorldValue // the stale vars as they are now, by name (Version 0: the var does not exist)
}

// Error names the task and the stale vars.
func (e *StaleError) Error() string {
	var b strings.Builder
	if e.Task != "" {
		fmt.Fprintf(&b, "task %s: ", e.Task)
	}
	b.WriteString("stale world vars:")
	for _, v := range e.Fresh {
		fmt.Fprintf(&b, " %s (now version %d)", v.Name, v.Version)
	}
	return b.String()
}

// Is reports whether target is ErrStale.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// CorruptError reports a stored row that does not decode, or whose bytes
// no longer match the checksum stored beside them (task.VerifyChecksum):
// Load and Messages return it rather than a wrong value. It matches
// task.ErrCorrupt, and names the task and the row.
type CorruptError struct {
	Task string // the task the row belongs to
	Row  string // which row: "journal seq 3", "mailbox seq 2", "tasks.wait"
	Err  error  // what decoding or the checksum said
	// Data holds the row's stored bytes, when the store read them: the
	// inspector shows them beside the error.
	Data []byte
}

// Error names the task and the row.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("task %s: %s is corrupt: %v", e.Task, e.Row, e.Err)
}

// Unwrap returns what decoding or the checksum said.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is reports whether target is task.ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == task.ErrCorrupt }

// Notifier is implemented by stores that can tell a worker when tasks may
// have become ready through another process (PostgreSQL LISTEN/NOTIFY).
// The durable interpreter polls Claim on a timer as well, so a lost
// notification only delays a task.
type Notifier interface {
	// Ready returns a channel that receives (without blocking the store;
	// extra signals are dropped) when tasks may have become ready.
	Ready() <-chan struct{}
}

// WorldNotifier is implemented by stores whose world can be changed by
// other workers (PostgreSQL; the in-memory store shared by several
// interpreters): how a worker learns that its copy of the world is behind,
// to refresh it with WorldSince and wake the transactions that wait on
// what changed.
type WorldNotifier interface {
	// WorldCommitted returns a channel that receives the world clock
	// after world commits, made here or by any other worker. It holds the
	// latest clock only: a reader that falls behind skips to it. A lost
	// notification is made up for by polling WorldClock.
	WorldCommitted() <-chan uint64
	// WorldClock returns the clock of the last world commit: one small
	// read, cheap enough to poll.
	WorldClock(ctx context.Context) (uint64, error)
}
