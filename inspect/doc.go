// Package inspect is the inspector behind `amber serve`: web pages over a
// store and a registry that show tasks, their journals as timelines, what
// they wait for and their mailboxes, and that send them messages and cancel
// them. Pages are rendered on the server (html/template) from assets
// embedded in the binary; no Node toolchain is needed to build or run it.
//
//	srv, err := inspect.New(inspect.Options{Store: st, Registry: reg})
//	ln, err := net.Listen("tcp", inspect.DefaultAddr)
//	err = srv.Serve(ctx, ln)
//
// # Pages
//
//	GET  /tasks               the task list: filters (status, program, version,
//	                          waiting for, creation time, ID substring), counts
//	                          per status, keyset paging by ID or most recently
//	                          updated first, read through the store's own
//	                          filters, cursors and counts (store.Filter)
//	GET  /tasks/{id}          a task: status, program, input, result or error,
//	                          what it waits for in words, mailbox, related tasks,
//	                          and its journal as a timeline, a table and raw CBOR
//	                          (?from=N pages through long journals)
//	GET  /tasks/{id}/replay   the replay debugger: step through the journal
//	                          entry by entry (?step=N), replay it against a
//	                          version of the program this binary registers
//	                          (?version=V) and see where it diverges, recorded
//	                          and issued side by side, or that it fits to the
//	                          end; nothing is written to the store
//	GET  /versions            per program: its versions, the current one, tasks
//	                          in flight per version, drain states, workers, and
//	                          the log of version changes (Options.Versions), and
//	                          which versions this binary registers
//	GET  /routes              per routed function: its policy (primary,
//	                          percent, shadow and sampling) and the history of
//	                          routing changes (Options.Routes)
//	GET  /routes/{function}   its recent divergences, primary and candidate
//	                          side by side, the first differing op marked
//	POST /tasks/{id}/send     send a message (a typed form per message type the
//	                          task waits for, or JSON of any registered type)
//	POST /tasks/{id}/cancel   ask the task to cancel
//	POST /tasks/{id}/migrate  move the task to version "to" if its journal fits it (interp.Migrator)
//
// Open pages refresh their live part in place (polling ?partial=live every
// Options.Poll), so a task is seen moving on without a reload.
//
// # Security
//
// The inspector listens on loopback by default (DefaultAddr). Any other
// address needs a token (CheckAddr), and then every request must carry it
// (401 otherwise). Without a token, requests whose Host is not a loopback
// name are refused, so that a web page cannot reach the inspector by
// rebinding its DNS name to 127.0.0.1. Writes are POST only; a write from
// another origin is refused (http.CrossOriginProtection), and each form
// carries a token of the process. Everything shown is escaped by
// html/template, and a Content-Security-Policy forbids inline scripts.
//
// # Bad input
//
// A task that does not exist is a 404 page, a store that cannot be read a
// 503 page, a task whose rows do not decode a page that says which row and
// why, and a message of a type this binary does not register is shown as
// raw CBOR: a page with a message, never a stack trace.
//
// # Caveats
//
//   - A page of the list costs the store an index walk from its cursor
//     and a count per status of the tasks that match the other filters; an
//     ID substring search and the counts scan the table (about 15 ms a page
//     at 100,000 tasks on SQLite: BenchmarkTaskListPage).
//   - A journal records when each result came, not when each op was
//     issued: the timeline estimates issue times from the fibers' previous
//     results (timeline.go says how). Its time axis shortens long gaps by
//     default (?axis=linear for a linear one); the labels are real times.
//     Attempts of an activity that completed are not journaled; the
//     attempt and next retry of the op a task waits on are.
//   - Links and monitors are read from the task's own journal; those made
//     by other tasks are not shown.
package inspect
