package effect

import (
	"errors"
	"fmt"
)

// The process ops: links, monitors, names and kills. See the package
// doc, "Processes", for the semantics and where they differ from Erlang.

// Exit reasons with a meaning of their own.
const (
	// ExitNormal is the reason of a task whose program returned. It does
	// not propagate along links, except as an Exit message to a task that
	// traps exits.
	ExitNormal = "normal"
	// ExitKill, given to Kill, ends the task even if it traps exits; the
	// task's own reason is then ExitKilled.
	ExitKill = "kill"
	// ExitKilled is the reason of a task killed with ExitKill.
	ExitKilled = "killed"
	// ExitNoProc is the reason in the Down of a monitor (or the Exit of a
	// link, for a task that traps exits) whose target had already ended,
	// or never existed, when the monitor (or link) was set up.
	ExitNoProc = "noproc"
)

// ErrNameTaken is the failure of TakeName when another running task holds
// the name, or the calling task already has a name.
var ErrNameTaken = errors.New("effect: name already registered")

// Exit is the message a task that traps exits receives instead of being
// killed: a linked task ended (with any reason, ExitNormal included), or
// Kill was called on it with a reason other than ExitKill. Receive it with
// Receive[Exit]().
type Exit struct {
	From   string // the task that ended, or that called Kill
	Reason string
}

// MonitorRef names one monitor, for Demonitor and for telling Down
// messages apart. It is unique within the interpreter.
type MonitorRef string

// Down is the message a task receives when a task it monitors ends: once
// per monitor. Reason is ExitNormal, the text of the task's error,
// the reason it was killed with (ExitKilled for ExitKill), or ExitNoProc
// if it had already ended (or never existed) when the monitor was set up.
// Receive it with Receive[Down](), or ReceiveMatch for one Ref.
type Down struct {
	Ref    MonitorRef
	ID     string
	Reason string
}

// LinkOp links the calling task with task ID. See Link.
type LinkOp struct {
	Returns[Unit]
	ID string
}

// Link links the calling task with task id, both ways: when either ends
// abnormally (its program failed or panicked, or it was killed), the other
// is killed with the same reason, unless it traps exits (TrapExits), in
// which case it receives an Exit message instead. A normal end kills no
// one; a task that traps exits still receives Exit with reason ExitNormal.
// Linking twice, or with itself, does nothing. If task id does not exist
// or has ended, Link fails with interp's NoTaskError, or, if the caller
// traps exits, succeeds and an Exit with reason ExitNoProc arrives.
func Link(id string) Eff[Unit] { return Eff[Unit]{LinkOp{ID: id}} }

// UnlinkOp removes the link between the calling task and task ID. See
// Unlink.
type UnlinkOp struct {
	Returns[Unit]
	ID string
}

// Unlink removes the link between the calling task and task id, if there
// is one. Once it has completed, the end of task id no longer affects the
// caller (an Exit already in the mailbox stays there).
func Unlink(id string) Eff[Unit] { return Eff[Unit]{UnlinkOp{ID: id}} }

// TrapExitsOp sets whether the calling task traps exits. See TrapExits.
type TrapExitsOp struct {
	Returns[Unit]
	On bool
}

// TrapExits sets whether the calling task traps exits (Erlang's
// process_flag(trap_exit, on)): a task that traps exits is not killed by
// the abnormal end of a linked task, nor by Kill with a reason other than
// ExitKill; it receives an Exit message instead. Supervisors trap exits.
func TrapExits(on bool) Eff[Unit] { return Eff[Unit]{TrapExitsOp{On: on}} }

// MonitorOp makes the calling task monitor task ID. See Monitor.
type MonitorOp struct {
	Returns[MonitorRef]
	ID string
}

// Monitor makes the calling task monitor task id, one way: when task id
// ends, the caller receives one Down message with the returned ref and the
// reason, and is not otherwise affected. If task id has already ended or
// never existed, the Down arrives at once with reason ExitNoProc. Each
// call sets up a new monitor.
func Monitor(id string) Eff[MonitorRef] { return Eff[MonitorRef]{MonitorOp{ID: id}} }

// DemonitorOp removes a monitor. See Demonitor.
type DemonitorOp struct {
	Returns[Unit]
	Ref MonitorRef
}

// Demonitor removes the monitor ref set up by the calling task: no Down
// for it arrives afterwards, and one already in the mailbox is removed.
// Removing a monitor that fired or does not exist does nothing.
func Demonitor(ref MonitorRef) Eff[Unit] { return Eff[Unit]{DemonitorOp{Ref: ref}} }

// TakeNameOp names the calling task. See TakeName.
type TakeNameOp struct {
	Returns[Unit]
	Name string
}

// TakeName names the calling task (Erlang's register): WhereIs(name)
// finds it until it ends, when the name is released. It fails with
// ErrNameTaken if a running task holds the name or the caller already has
// one, and with an error if name is empty.
func TakeName(name string) Eff[Unit] { return Eff[Unit]{TakeNameOp{Name: name}} }

// WhereIsOp looks up a task's name. See WhereIs.
type WhereIsOp struct {
	Returns[Maybe[string]]
	Name string
}

// WhereIs yields the ID of the running task named name (TakeName), if
// there is one.
func WhereIs(name string) Eff[Maybe[string]] { return Eff[Maybe[string]]{WhereIsOp{Name: name}} }

// KillOp ends another task. See Kill.
type KillOp struct {
	Returns[Unit]
	ID     string
	Reason string
}

// Kill ends task id abnormally with reason, as if a task linked to it had
// ended with that reason (Erlang's exit(Pid, Reason)): if task id traps
// exits, it receives Exit{From: caller, Reason: reason} instead, unless
// reason is ExitKill, which cannot be trapped (the task then ends with
// reason ExitKilled). The kill takes effect when task id next runs; Kill
// does not wait for it (Monitor the task to know when it has ended).
// Killing a task that has already ended does nothing. Kill fails if id is
// the caller, never named a task, or reason is "" or ExitNormal.
func Kill(id string, reason string) Eff[Unit] { return Eff[Unit]{KillOp{ID: id, Reason: reason}} }

// ExitError is the error of a task ended by an exit signal: Kill, or the
// abnormal end of a task linked to it (when it does not trap exits). Its
// exit reason, what its own links and monitors see, is Reason.
type ExitError struct {
	Task   string `cbor:"1,keyasint"` // the task that ended
	From   string `cbor:"2,keyasint"` // the task that killed it, or whose end it followed
	Reason string `cbor:"3,keyasint"`
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("task %s ended by an exit signal from task %s: %s", e.Task, e.From, e.Reason)
}
