// Package router runs versioned functions: effect sub-programs registered
// by name and version, called from programs with compile-time types, and
// routed per call by a policy that lives in a table (in memory, or in the
// store so that every worker follows it without a restart).
//
// # Functions
//
//	var LookupUser = router.Define[string, User]("lookupUser")
//
//	func init() {
//		router.Register(LookupUser, "1", lookupUserV1)
//		router.Register(LookupUser, "2", lookupUserV2)
//	}
//
//	user := router.Call(e, LookupUser, id)          // direct style
//	prog := router.Run(LookupUser, id)              // tree style
//
// Each call performs one op, an interp.RouteOp, whose journaled result is
// the version chosen, and then runs that version inline: every op it does
// is journaled like any other, and replay is exact.
//
// # Policies
//
// Per function (Policy): a primary version; percentages of tasks to other
// versions, sticky by a hash of the task ID and the function's name (a task
// never flips between versions); a shadow candidate with a sampling rate;
// per-task overrides. A Router decides every call (it is the interp.Routes
// of an interpreter, WithRoutes) from a snapshot of its table, refreshed by
// Refresh or Watch.
//
// # Shadow
//
// A shadowed call runs the primary version as usual, with its ops
// recorded. When it returns, the candidate version runs on the same input
// in interp.Sandbox, answered from the recording; its writes are captured,
// never performed. The Router compares outputs and traces (ops issued, in
// order, with their arguments; Log ops are left out: a version that only
// logs more does not diverge), and on a difference runs the primary
// version again in the sandbox against its own recording (A/A): a
// difference there is noise (the call is not deterministic), not a
// divergence. Shadows run on a bounded pool; when it is full a shadow is
// dropped and counted. The primary never waits for, nor fails because of,
// the candidate.
//
// # Caveats
//
// A function's implementations must not mutate their input (the candidate
// gets the same value). Outputs are compared by their CBOR encoding unless
// the Function has a comparator (Compare).
package router
