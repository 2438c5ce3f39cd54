// Package interp runs amber programs. Each interpreter gives the same
// program (an effect.Eff) a different life:
//
//	Mock    unit tests: handlers stubbed per op type, a virtual clock that
//	        skips ahead when every task is blocked, seeded randomness,
//	        messages injected, journals inspectable. Deterministic.
//	Live    an in-memory runtime: many tasks on a small worker pool, the
//	        real clock, mailboxes, timers. A blocked tree-style task holds
//	        no goroutine.
//	Replay  runs a program against a recorded journal, touching nothing,
//	        and reports a *DivergenceError if the program no longer fits it.
//	Durable live execution over a store.Store (store/sqlite, store/postgres):
//	        every step committed with its effects, tasks resumed by replay
//	        after a crash, durable timers and retries, leases fenced by epoch.
//	Sim     property tests: many tasks interleaved op by op by a seeded
//	        (or rapid-driven) Chooser, a virtual clock, and injected
//	        faults: crash a task or the whole runtime and rebuild it from
//	        its journal, delay and reorder messages between senders.
//	        Deterministic: a seed, or a sequence of choices, replays a run.
//
// All of them pass the conformance suites of interp/interptest. One more
// port runs a program where it cannot touch the world: Sandbox, the
// shadow sandbox of package router (answers from a recording, captured
// writes, a trace).
//
// # Routed calls
//
// A call of a versioned function (package router) performs a RouteOp: the
// Routes given with WithRoutes decide its version, journaled as the
// op's result, so replay answers the same version. A decision may ask for
// a shadow: the call's ops are then recorded (Route.Recording) for the
// candidate's sandbox. WithRoute makes a replay run one function's calls
// under another version, in a sandbox answered from the journal ("replay
// + swap").
//
// # Running tasks
//
// Mock, Live, Sim and Durable are Runtimes, and one set of functions works
// with all of them:
//
//	StartProgram(rt, p, in)  start a task of p's program on in: a *Handle[O]
//	StartAny(rt, p, in)      the same for a program known at run time (from a registry)
//	StartMany(rt, p, ins)    a task per input, all or none (Durable: one transaction)
//	Start(rt, eff)           start an anonymous program (not under Durable)
//	Run(ctx, rt, eff)        Start, then Wait
//	Attach(rt, p, id)        a typed handle to an existing task of program p
//	rt.Task(id)              an untyped handle (*Handle[any]) to an existing task
//	rt.Send(id, msg)         put a message in a task's mailbox
//	rt.Cancel(id)            stop a task where it waits (also Handle.Cancel)
//
// A new task runs its program's current version (under Durable, the
// version marked current in the store; otherwise the highest registered);
// WithVersion pins another, and WithID gives the task its ID.
//
// A Handle is typed by the program's output: Wait returns an O, Result
// says whether the task has finished, and Status, Journal and Record read
// its state. A handle to a durable task reads the store, so it works for a
// task wherever it runs, in this process or another worker's:
//
//	d, err := interp.NewDurable(st, interp.WithRegistry(reg))
//	h, err := interp.StartProgram(d, checkout, Order{ID: "o-1"}, interp.WithID("o-1"))
//	receipt, err := h.Wait(ctx) // a Receipt, not an any
//
// A task's ops are performed in the order its fibers issue them; the
// outcome of each is appended to its journal: sequence number, fiber, op
// kind and fingerprint, the op's canonical encoding, the result or error,
// and the time. The Mock, the Sim and the durable interpreter always record
// journals; Live records them with WithJournal.
//
// # Options
//
// Each interpreter takes the options it honours, and no other: an option
// an interpreter would ignore does not compile. NewMock takes MockOptions,
// NewLive LiveOptions, NewSim SimOptions, NewDurable DurableOptions, and
// Replay and ReplayRecord ReplayOptions. Some options serve several:
//
//	WithHandlers, WithLogger, WithSeed  every Runtime (Option)
//	WithRegistry                        every Runtime, and replay (RegistryOption)
//	WithStartTime                       the virtual clocks: Mock, Sim (ClockOption)
//	WithWorkers                         the worker pools: Live, Durable (PoolOption)
//	WithJournal                         Live
//	WithSimOptions                      Sim
//	WithWorld, WithDurableOptions       Durable
//	ReplayVersion                       ReplayRecord
//	WithID, WithIDs, WithVersion        StartProgram, StartAny, StartMany (StartOption)
//
// # Replaying and restoring
//
// Replay runs a program against a journal, and ReplayRecord a stored task
// (a task.Record) against its own, performing nothing: every op's result
// is the recorded one. A journal that the program no longer fits gives a
// *DivergenceError that names the task, the sequence number and both ops.
// ReplayVersion replays a task against another version of its program,
// the check to make before a deploy.
//
// Restore continues a task from its record (Handle.Record, or a record
// decoded with task.DecodeRecord, in this process or a fresh one) in an
// in-memory interpreter: the program runs again from its input, fed the
// journaled results (nothing is performed twice, Log ops are not written
// twice), and goes on live where the journal ends. A durable task needs no
// Restore: its interpreter resumes it from the store, on any worker.
//
// # Simulation
//
// A Sim explores the schedules of a concurrent program; a property test
// drives its choices from rapid, so that a failing schedule shrinks, and
// prints it:
//
//	type draws struct{ t *rapid.T }
//
//	func (d draws) Intn(n int) int { return rapid.IntRange(0, n-1).Draw(d.t, "choice") }
//
//	rapid.Check(t, func(rt *rapid.T) {
//		sim := interp.NewSim(0, interp.WithRegistry(reg), interp.WithSimOptions(
//			interp.SimOptions{Chooser: draws{rt}, CrashProb: 0.05, DelayProb: 0.2}))
//		tk, _ := interp.StartProgram(sim, service, 2)
//		if v, err := tk.Wait(ctx); err != nil || v != 2 {
//			rt.Fatalf("got %v, %v; schedule: %s", v, err, sim.Schedule())
//		}
//	})
//
// Without a Chooser, the seed given to NewSim decides the schedule.
//
// # Choices
//
//   - Send to a task that does not exist or has finished fails the Send
//     (a *NoTaskError) rather than dropping the message.
//   - Under Live, handlers and activities run on goroutines of their own,
//     so a slow one blocks no worker and Par branches are concurrent; under
//     the mock and the simulator they run inline, in order.
//   - The simulator interleaves tasks, not the fibers of one task: within
//     a task, fibers complete their ops in the order the Mock would.
//   - A simulated crash loses nothing that a completed op did: each op is
//     as if committed when it completes (as under the durable
//     interpreter, which commits a step's ops together). Messages held in
//     transit survive a crash of the whole runtime.
//   - Links, monitors and names (effect.Link, Monitor, TakeName, Kill)
//     are not in journals: the Mock, Live and Sim interpreters keep them
//     in memory, the durable interpreter in its store (store.ProcOp),
//     committed with the step that made them. A task that ends sends exit
//     signals to its links and monitors in the order they were set up;
//     the receiver processes a signal when it next takes its inbox (a
//     durable task: when its next step starts), and ends with an
//     *ExitError if the signal kills it. In the Sim, exit signals travel
//     like messages (they may be delayed, and stay behind the messages
//     sent before them); under the durable interpreter they are stored
//     messages, delivered by the commit of the step that ended the task,
//     so supervision survives a crash of the whole process. There, a
//     Monitor of a task that has ended, or a Link to one by a task that
//     traps exits, is answered (Down or Exit, reason noproc) at the next
//     step rather than at once.
//   - A task's error is stored as its message, the name of a registered
//     sentinel it matches (task.RegisterError), and the fields of a
//     registered error type it holds (task.RegisterErrorType):
//     *effect.ExitError and *effect.PanicError are registered by default,
//     so errors.As finds them after a restart.
//   - An op with neither a handler nor a Run method fails with an
//     *UnhandledOpError that says how to register one.
//   - Race picks the first branch to finish, success or failure.
//   - A journal keeps an error's message, not its Go value. For
//     errors.Is to hold after a replay or a restore, register the sentinel
//     with task.RegisterError; otherwise a program that branches on it
//     diverges, and the DivergenceError says how the program failed.
package interp
