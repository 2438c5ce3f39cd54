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
//
// All of them pass the conformance suite in interp/interptest.
//
// # Running tasks
//
// Start, StartProgram and Run work with any interpreter:
//
//	mock := interp.NewMock(interp.WithHandlers(effect.Handle(getUser)))
//	got, err := interp.Run(ctx, mock, program)
//
// A task's ops are performed in the order its fibers issue them; the
// outcome of each is appended to its journal: sequence number, fiber, op
// kind and fingerprint, the op's canonical encoding, the result or error,
// and the time. The mock always records journals; Live records them with
// WithJournal.
//
// # Resuming
//
// A task that runs a named program (StartProgram, Spawn) can be taken as a
// task.Record (Task.Record), encoded to CBOR, and continued in another
// interpreter, in this process or a fresh one, with Resume: the program
// runs again from its input, fed the journaled results (nothing is
// performed twice, Log ops are not written twice), and goes on live where
// the journal ends.
//
// # Choices
//
//   - Send to a task that does not exist or has finished fails the Send
//     (a *NoTaskError) rather than dropping the message.
//   - Under Live, handlers and activities run on goroutines of their own,
//     so a slow one blocks no worker and Par branches are concurrent; under
//     the mock they run inline, in order.
//   - An op with neither a handler nor a Run method fails with an
//     *UnhandledOpError that says how to register one.
//   - Race picks the first branch to finish, success or failure.
//   - A journal keeps an error's message, not its Go value. For
//     errors.Is to hold after a replay or resume, register the sentinel
//     with task.RegisterError; otherwise a program that branches on it
//     diverges, and the DivergenceError says how the program failed.
package interp
