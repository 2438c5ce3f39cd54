package task

import (
	"errors"
	"fmt"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/codec"
	"github.com/fxamacker/cbor/v2"
)

// Status is where a task is in its life.
type Status string

// The statuses of a task.
const (
	// Running: the task can make progress now (or is doing so).
	Running Status = "running"
	// Waiting: the task waits for what its Wait describes.
	Waiting Status = "waiting"
	// Done: the program returned; Result holds its output.
	Done Status = "done"
	// Failed: the program failed; Err holds the failure.
	Failed Status = "failed"
	// Cancelled: the task was stopped from outside.
	Cancelled Status = "cancelled"
	// Parked: this process cannot run the task (its program or version is
	// not registered here, or its journal does not replay); Reason says
	// why. Another process, or a later deployment, may pick it up.
	Parked Status = "parked"
	// Diverged: the task's program no longer fits its journal (the code
	// changed); Err holds the *DivergenceError (sequence number, recorded
	// and issued ops). The task waits, taking no step, until a version that
	// fits its journal runs it (a fixed build of its version, or a
	// migration to another version) or it is cancelled.
	Diverged Status = "diverged"
)

// Known reports whether s is one of the statuses above.
func (s Status) Known() bool {
	switch s {
	case Running, Waiting, Done, Failed, Cancelled, Parked, Diverged:
		return true
	}
	return false
}

// Final reports whether s is a status a task never leaves: done, failed or
// cancelled.
func (s Status) Final() bool { return s == Done || s == Failed || s == Cancelled }

// The kinds of Wait. A record may hold another kind, written by a newer
// version of amber; it is kept as it is.
const (
	WaitReceive  = "receive"  // a message of one of Types
	WaitSleep    = "sleep"    // the clock to reach Until
	WaitActivity = "activity" // an activity (Detail names it) to complete
	WaitSTM      = "stm"      // an STM var read by a retried transaction to change
	WaitJoin     = "join"     // other fibers or tasks to finish
)

// Wait describes what a waiting task waits for: enough to wake it (a timer, a
// matching message) without rebuilding its Machine, and to show an operator
// why it is stuck. When fibers wait on different things at once (a Race of a
// Receive and a Sleep), Kind is the first of them, Until the earliest deadline
// among all of them and Types every message type any of them accepts: the
// task must be woken when any of these happens.
type Wait struct {
	// Kind is one of WaitReceive, WaitSleep, WaitActivity, WaitSTM,
	// WaitJoin, or "" when unspecified.
	Kind string `cbor:"1,keyasint,omitempty"`
	// Until is the earliest time at which the task must be woken (a Sleep,
	// a receive timeout); zero if none.
	Until time.Time `cbor:"2,keyasint,omitzero"`
	// Types are the registered names of the message types a receive
	// accepts.
	Types []string `cbor:"3,keyasint,omitempty"`
	// Detail is free text for people: an activity's kind, STM var names.
	Detail string `cbor:"4,keyasint,omitempty"`
	// Ops is the durable state of the ops the task's fibers wait on: a
	// timer's deadline, an activity's attempt number and next attempt time.
	// A resumed task re-issues those ops by replay and must find this state
	// again, so that a timer fires once at its first deadline and a retry
	// resumes at its attempt, not at 1.
	Ops []OpState `cbor:"5,keyasint,omitempty"`
}

// OpState is the durable state of one pending op, keyed by the fiber that
// waits on it and the op's fingerprint.
type OpState struct {
	// Fiber, Kind and Fingerprint identify the op: the fiber that waits
	// on it, its kind and its journal fingerprint.
	Fiber       uint32    `cbor:"1,keyasint"`
	Kind        string    `cbor:"2,keyasint,omitempty"`
	Fingerprint uint64    `cbor:"3,keyasint"`
	Until       time.Time `cbor:"4,keyasint,omitzero"`  // deadline or next attempt
	Attempt     int       `cbor:"5,keyasint,omitempty"` // attempts started so far
	Started     time.Time `cbor:"6,keyasint,omitzero"`  // when the op was first issued
	// Phase is what the op is doing: PhaseTimer (a Sleep waiting for
	// Until), PhaseRunning (attempt Attempt started), PhaseBackoff (waiting
	// until Until to start attempt Attempt+1).
	Phase string `cbor:"7,keyasint,omitempty"`
}

// Phases of an OpState.
const (
	PhaseTimer   = "timer"
	PhaseRunning = "running"
	PhaseBackoff = "backoff"
)

// Record is a task at rest: what determines its continuation, since the
// continuation itself (Go closures) cannot be stored. Loading a task means
// finding its program in a Registry, decoding its input, and replaying its
// journal; the program then issues exactly the ops recorded and, when the
// journal runs out, goes on live.
type Record struct {
	// ID names the task; unique within a store.
	ID string `cbor:"1,keyasint"`
	// Program and Version name the program the task runs. A task stays on
	// the version it started on.
	Program string `cbor:"2,keyasint"`
	Version int    `cbor:"3,keyasint"`
	// Input is the encoding of the program's input.
	Input cbor.RawMessage `cbor:"4,keyasint,omitempty"`
	// Status and Reason (for failed and parked tasks, readable).
	Status Status `cbor:"5,keyasint"`
	Reason string `cbor:"6,keyasint,omitempty"`
	// Journal holds the task's completed ops.
	Journal Journal `cbor:"7,keyasint,omitempty"`
	// Mailbox holds the messages delivered but not yet received, oldest
	// first.
	Mailbox []Envelope `cbor:"8,keyasint,omitempty"`
	// Wait says what a waiting task waits for; nil otherwise.
	Wait *Wait `cbor:"9,keyasint,omitempty"`
	// Result is the encoding of the program's output, once done.
	Result cbor.RawMessage `cbor:"10,keyasint,omitempty"`
	// Err is the program's failure, once failed.
	Err *Error `cbor:"11,keyasint,omitempty"`
	// Parent is the ID of the task that spawned this one, if any.
	Parent string `cbor:"12,keyasint,omitempty"`
	// Created and Updated are interpreter times (UTC).
	Created time.Time `cbor:"13,keyasint,omitzero"`
	Updated time.Time `cbor:"14,keyasint,omitzero"`
	// Trap reports that the task traps exits (effect.TrapExits), and Name
	// is the name it registered (effect.Register), if any: its process
	// state that lives outside its journal.
	Trap bool   `cbor:"15,keyasint,omitempty"`
	Name string `cbor:"16,keyasint,omitempty"`
	// Runs counts the task's restarts by ContinueAsNew: 0 in its first
	// run. A store increments it with the step that restarts the task,
	// so that what a run names (child IDs, idempotency keys) can differ
	// from every other run's.
	Runs uint64 `cbor:"17,keyasint,omitempty"`
	// RunAt is when the store makes the task ready if nothing wakes it
	// first (a timer, an activity's next attempt or deadline, a parked
	// task's retry); zero for none. Stores fill it on Load; Create
	// schedules it.
	RunAt time.Time `cbor:"18,keyasint,omitzero"`
	// Migrations are the task's moves from one version of its program to
	// another (store.Store.Migrate), oldest first. Stores fill it on Load.
	Migrations []Migration `cbor:"19,keyasint,omitempty"`
}

// Migration records a task moved from one version of its program to
// another: its journal was checked to replay cleanly under To, and the
// task was re-pinned under its lease.
type Migration struct {
	// From and To are the versions before and after the move.
	From int       `cbor:"1,keyasint" json:"from"`
	To   int       `cbor:"2,keyasint" json:"to"`
	At   time.Time `cbor:"3,keyasint,omitzero" json:"at"` // when it moved (the migrator's clock)
}

// ProgramVersion names one version of one program: what a worker can run,
// what a task is pinned to.
type ProgramVersion struct {
	// Program is the program's name, Version its version.
	Program string `json:"program"`
	Version int    `json:"version"`
}

// String renders pv as "program v3".
func (pv ProgramVersion) String() string { return fmt.Sprintf("%s v%d", pv.Program, pv.Version) }

// recordFormat is the version of the record encoding.
const recordFormat = 1

type recordWire struct {
	Format uint64 `cbor:"0,keyasint"`
	Record
}

// ErrFormat is matched by the error of decoding a record or journal written
// in a format version this package does not read.
var ErrFormat = errors.New("task: unknown format version")

func formatError(got, want uint64) error {
	if got == 0 {
		return newProblem(ErrFormat, "no format version (want %d)", want)
	}
	return newProblem(ErrFormat, "unknown format version %d (this build reads %d)", got, want)
}

// ErrInvalidRecord is matched by the errors of Record.Validate.
var ErrInvalidRecord = errors.New("task: invalid record")

// Validate checks that r can be stored and loaded: an ID, a program name, a
// non-negative version, a known status, a well-formed journal (see
// Journal.Validate), envelopes with a type and data, and not both a result
// and an error.
func (r *Record) Validate() error {
	if err := r.validateFields(); err != nil {
		return fmt.Errorf("task: invalid record %q: %w", r.ID, err)
	}
	if err := r.Journal.validate(); err != nil {
		return fmt.Errorf("task: invalid record %q: %w", r.ID, err)
	}
	return nil
}

func (r *Record) validateFields() error {
	bad := func(format string, args ...any) error {
		return newProblem(ErrInvalidRecord, format, args...)
	}
	switch {
	case r.ID == "":
		return bad("no ID")
	case r.Program == "":
		return bad("no program name")
	case r.Version < 0:
		return bad("negative program version %d", r.Version)
	case !r.Status.Known():
		return bad("unknown status %q", r.Status)
	case r.Err != nil && len(r.Result) > 0:
		return bad("both a result and an error")
	case !inRange(r.Created) || !inRange(r.Updated) || !inRange(r.RunAt) || r.Wait != nil && !inRange(r.Wait.Until):
		return bad("a time out of range (years 0 to 9999 UTC)")
	}
	for i, e := range r.Mailbox {
		if e.Type == "" || len(e.Data) == 0 {
			return bad("mailbox message %d has no type or no data", i)
		}
	}
	return nil
}

// EncodeRecord returns the deterministic encoding of r, after checking it
// with Validate.
func EncodeRecord(r *Record) ([]byte, error) {
	if r == nil {
		return nil, errors.New("task: encode record: nil record")
	}
	if err := r.validateFields(); err != nil {
		return nil, fmt.Errorf("task: encode record %q: %w", r.ID, err)
	}
	if err := r.Journal.validate(); err != nil {
		return nil, fmt.Errorf("task: encode record %q: %w", r.ID, err)
	}
	b, err := encMode.Marshal(&recordWire{Format: recordFormat, Record: *r})
	if err != nil {
		return nil, fmt.Errorf("task: encode record %q: %w", r.ID, err)
	}
	return b, nil
}

// DecodeRecord decodes a record written by EncodeRecord and checks it: the
// format version, Validate, and the fingerprints of its journal (see
// Journal.Verify). Bad input gives an error (matching ErrCorrupt,
// ErrInvalidRecord, ErrInvalidJournal or ErrFormat), never a panic.
func DecodeRecord(data []byte) (*Record, error) {
	var w recordWire
	if err := unmarshal(recordMode, data, &w); err != nil {
		return nil, fmt.Errorf("task: decode record: %w", err)
	}
	if w.Format != recordFormat {
		return nil, fmt.Errorf("task: decode record: %w", formatError(w.Format, recordFormat))
	}
	r := &w.Record
	if err := r.normalize(); err != nil {
		return nil, fmt.Errorf("task: decode record: %w", &corruptError{err})
	}
	if err := r.validateFields(); err != nil {
		return nil, fmt.Errorf("task: decode record %q: %w", r.ID, err)
	}
	if err := r.Journal.verify(); err != nil {
		return nil, fmt.Errorf("task: decode record %q: %w", r.ID, err)
	}
	return r, nil
}

// normalize makes a decoded record equal to the one encoded: times in UTC,
// empty slices nil.
func (r *Record) normalize() error {
	var err1, err2, err3 error
	var err4 error
	r.Created, err1 = utc(r.Created)
	r.Updated, err2 = utc(r.Updated)
	r.RunAt, err4 = utc(r.RunAt)
	if len(r.Mailbox) == 0 {
		r.Mailbox = nil
	}
	if r.Wait != nil {
		r.Wait.Until, err3 = utc(r.Wait.Until)
		if len(r.Wait.Types) == 0 {
			r.Wait.Types = nil
		}
	}
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	if err := codec.CheckRaw(r.Input); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	if err := codec.CheckRaw(r.Result); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	for i, m := range r.Mailbox {
		if err := codec.CheckRaw(m.Data); err != nil {
			return fmt.Errorf("mailbox message %d: %w", i, err)
		}
	}
	return nil
}

// ErrProgramMismatch is matched by the errors of Record.CheckProgram.
var ErrProgramMismatch = errors.New("task: record belongs to another program")

// CheckProgram reports whether p is the program r's journal belongs to: the
// same name and version, and an input that decodes as p's input type. Replaying
// a journal against another program would diverge at best, and decode results
// into the wrong types at worst, so interpreters check this first.
func (r *Record) CheckProgram(p effect.AnyProgram) error {
	if p == nil {
		return fmt.Errorf("%w: task %q runs %s v%d, checked against no program", ErrProgramMismatch, r.ID, r.Program, r.Version)
	}
	if p.ProgramName() != r.Program || p.ProgramVersion() != r.Version {
		return fmt.Errorf("%w: task %q runs %s v%d, not %s v%d",
			ErrProgramMismatch, r.ID, r.Program, r.Version, p.ProgramName(), p.ProgramVersion())
	}
	if _, err := DecodeInput(p, r.Input); err != nil {
		return fmt.Errorf("%w: task %q: %w", ErrProgramMismatch, r.ID, err)
	}
	return nil
}

// Resolve finds the program r runs in reg and checks it with CheckProgram.
// If the program is not registered the error matches ErrUnknownProgram: the
// task should be parked.
func (reg *Registry) Resolve(r *Record) (effect.AnyProgram, error) {
	p, err := reg.Program(r.Program, r.Version)
	if err != nil {
		return nil, fmt.Errorf("task %q: %w", r.ID, err)
	}
	if err := r.CheckProgram(p); err != nil {
		return nil, err
	}
	return p, nil
}
