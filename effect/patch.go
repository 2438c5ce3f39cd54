package effect

// PatchOp asks whether a task takes the patched branch of a changed
// program. See Patched.
type PatchOp struct {
	Returns[bool]
	ID string
}

// Patched yields whether the task takes the new branch of the change named
// id: the way for one version of a program to serve the tasks recorded
// before a change and the tasks that reach it after, without waiting for
// the old ones to drain.
//
//	if e.Patched("charge-before-log") {
//		effect.Call(e, Charge{...})
//		e.Log(slog.LevelInfo, "charged")
//	} else {
//		e.Log(slog.LevelInfo, "charging")
//		effect.Call(e, Charge{...})
//	}
//
// A task that reaches the call live gets true, and a marker in its journal
// says so. A task replaying a journal recorded before the change (no
// marker where the program now asks) gets false, and its journal is left
// as it is: it goes on down the old branch, which must issue the ops it
// recorded. Once no task takes the old branch any more (a deploy check
// says which tasks still do), delete the old branch and the call: a marker
// that a program no longer asks for is skipped on replay.
func Patched(id string) Eff[bool] { return Eff[bool]{PatchOp{ID: id}} }

// Patched reports whether the task takes the new branch of the change
// named id; see the program Patched.
func (e *Ctx) Patched(id string) bool { return Call[bool](e, PatchOp{ID: id}) }
