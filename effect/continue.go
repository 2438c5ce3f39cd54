package effect

// ContinueAsNewOp ends the running program and starts it again, as the
// same task, on a new input, with an empty journal. See ContinueAsNew.
type ContinueAsNewOp struct {
	Returns[Unit]
	// Input is the input of the next run, of the program's input type.
	Input any
	// Latest continues on the current version of the program (see
	// ContinueAsNewLatest) instead of the task's own.
	Latest bool `cbor:",omitempty"`
}

// ContinueAsNew ends the current run of the task's program and starts the
// program again, in the same task, on input in (of the program's input
// type), with an empty journal: how a task that runs forever (an entity,
// a digital twin that handles messages for years) keeps its journal, and
// the cost of resuming it, bounded. The mailbox is kept. The program
// yields nothing from this run; O is its output type, so that ContinueAsNew
// fits where the program's result is expected:
//
//	loop := func(state State) effect.Eff[Result] {
//		return effect.Then(effect.Receive[Event](), func(ev Event) effect.Eff[Result] {
//			return effect.ContinueAsNew[Result](state.Apply(ev))
//		})
//	}
//
// Only tasks that run a named program (StartProgram, Spawn) can continue
// as new.
func ContinueAsNew[O, I any](in I) Eff[O] {
	return Then(Eff[Unit]{ContinueAsNewOp{Input: in}}, func(Unit) Eff[O] {
		// The interpreter never resumes a ContinueAsNewOp.
		return Fail[O](errContinued)
	})
}

// ContinueAsNewLatest is ContinueAsNew onto the current version of the
// task's program (the version new tasks start on), which may be newer than
// the one the task runs: how a task that runs for years picks up new code
// at a point where it holds nothing but its input. The program's versions
// share their input type, so in is the new version's input as well.
func ContinueAsNewLatest[O, I any](in I) Eff[O] {
	return Then(Eff[Unit]{ContinueAsNewOp{Input: in, Latest: true}}, func(Unit) Eff[O] {
		return Fail[O](errContinued)
	})
}

type continued struct{}

func (continued) Error() string { return "effect: resumed after ContinueAsNew" }

var errContinued error = continued{}
