// Package effect is amber's language for programs that outlive their
// process: a program is a typed effect tree, a value of type Eff[A] that
// describes what it wants done (log, send, receive, read the clock, read or
// write shared state, call the outside world) without doing it.
// Interpreters (package interp) give one program different lives: live,
// durable, replayed from its journal, mocked in a unit test, simulated
// under injected faults.
//
// # Two styles
//
// Tree style builds programs with Pure, Then, Map, Catch and the ops:
//
//	greet := effect.Then(effect.Now(), func(t time.Time) effect.Eff[string] {
//		return effect.Pure("hello at " + t.Format(time.Kitchen))
//	})
//
// Direct style reads like ordinary Go; each effect call suspends the body
// until the interpreter answers:
//
//	greet := effect.Do(func(e *effect.Ctx) string {
//		return "hello at " + e.Now().Format(time.Kitchen)
//	})
//
// The styles compose: Await runs any program inside a direct-style body,
// and a Do program is an Eff like any other. A blocked tree-style program
// holds no goroutine; a blocked direct-style body holds one parked
// coroutine (iter.Pull).
//
// A body's *Ctx belongs to the goroutine that runs the body. A call made
// with it from any other goroutine (a go statement in the body, or the
// body of another program) performs nothing, returns zero values there,
// and fails the task with ErrWrongGoroutine; concurrency inside a task is
// Par and Race. The check costs a few nanoseconds per effect
// (BenchmarkGoroutineCheck).
//
// # Ops and activities
//
// An op is a struct that embeds Returns[R]; its exported fields are its
// identity in the journal:
//
//	type GetUser struct {
//		effect.Returns[User]
//		ID string
//	}
//
// Perform(GetUser{ID: "7"}) is an Eff[User]. An interpreter performs it
// with a handler registered for the type (Handle gives one, typed on both
// sides), which is how a test swaps a database for a map. An op that also
// has a Run(context.Context) (R, error) method is an Activity: it performs
// itself when no handler is registered.
//
// The built-in ops are Log, Now, Sleep, Random, Send, Receive (typed and
// selective, ReceiveMatch, ReceiveTimeout), Self, Spawn, ReadState,
// WriteState and Atomically (over stm vars), the process ops (see
// Processes), and ContinueAsNew, which
// restarts a long-lived task with an empty journal. Par, Par2 and Race run
// sub-programs as fibers of one task.
//
// An op may carry a RetryPolicy (a RetryPolicy method): interpreters retry
// it with backoff, and the durable interpreter keeps the attempt number and
// the next attempt's time across crashes.
//
// # Processes
//
// A task is a process, after Erlang/OTP; its ID is its address. Link,
// Unlink, TrapExits, Monitor, Demonitor, TakeName, WhereIs and Kill are
// performed by every interpreter that runs tasks: the Mock, Live and Sim
// keep links, monitors and names in memory, the durable interpreter in its
// store, committed with the step that made them, so that supervision
// survives a crash of the whole process. A task that ends has an exit
// reason, which its links and monitors see:
//
//   - ExitNormal ("normal"): its program returned a value.
//   - the text of its error: its program failed, or panicked (the text of
//     the *PanicError, "effect: panic: ...").
//   - the reason it was killed with (Kill, or the abnormal end of a task
//     linked to it), or ExitKilled if it was killed with ExitKill.
//
// An abnormal end kills the linked tasks with the same reason, unless
// they trap exits: then they receive an Exit message, as they do for a
// normal end. Monitors receive one Down per monitor, with the reason, or
// ExitNoProc if the target had already ended. Exit and Down are ordinary
// messages: Receive[Exit](), ReceiveMatch on a Down's Ref.
//
// Where amber differs from Erlang:
//
//   - Link to a task that does not exist or has ended fails the Link op
//     with an error the program may Catch (interp.NoTaskError, where
//     Erlang raises noproc), unless the caller traps exits: then Link
//     succeeds and an Exit with reason ExitNoProc arrives, as in Erlang.
//   - Kill cannot end the calling task (return Fail instead), and refuses
//     the reason ExitNormal (or ""): it always ends a task abnormally.
//     Killing a task that has already ended does nothing; an ID that
//     never named a task fails with interp.NoTaskError.
//   - Demonitor also removes a Down of that monitor already in the
//     mailbox (Erlang's demonitor(Ref, [flush])).
//   - Names name only running tasks and are looked up with WhereIs; Send
//     takes a PID, not a name.
//   - An exit signal takes effect when the receiving task next takes its
//     inbox: when it waits (on a message, a timer, an activity) or between
//     two ops in the simulator. A task that performs ops without ever
//     waiting is killed when it next waits.
//   - Links, monitors, names and the trap-exits flag are state of the
//     interpreter, not of the task's journal: the durable interpreter
//     keeps them in its store across restarts, and the simulator across
//     its simulated crashes, as a store would, but a task continued from
//     its record in another in-memory interpreter (interp.Restore) has
//     none of them.
//
// # Determinism
//
// Interpreters resume a task by running its program again from its input
// and feeding it the results its journal recorded, so a program must issue
// the same ops given the same results:
//
//   - Everything that is not a pure function of the results goes through
//     an op: the time (Now), randomness (Random), the outside world
//     (activities and handlers), shared state (ReadState, Atomically).
//   - Do not read globals that change, start goroutines, or range over maps
//     in a way that changes which ops are issued.
//   - Continuations may run more than once (on every resume): keep them
//     free of side effects.
//
// A replay that meets an op other than the recorded one reports an
// interp.DivergenceError naming the sequence number and both ops.
//
// # The Machine
//
// Machine steps a program from op to op with an explicit continuation
// stack per fiber: a million nested binds, in either association, run in
// constant Go stack and linear time. Interpreters drive it with Run,
// Pending, Resume and Fail; programs never see it.
//
// # Failures
//
// Fail and Catch are the program-level failures; errors returned by
// handlers and activities are failures of their op. A panic in program
// code becomes a *PanicError failure of that task only.
package effect
