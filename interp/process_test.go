package interp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/stretchr/testify/require"
)

// Links, monitors, names and Kill are in the conformance suite
// (interptest.RunRuntime), which every interpreter runs; here is what
// only the Sim promises of them.

// doomed waits for "go" and fails.
var doomed = effect.NewProgram("proc.doomed", 1, func(effect.Unit) effect.Eff[string] {
	return effect.Then(effect.Receive[string](), func(string) effect.Eff[string] {
		return effect.Fail[string](errors.New("doomed"))
	})
})

// mourner spawns n doomed tasks, links to each, trapping exits, lets them
// fail, and collects their Exits.
var mourner = effect.NewProgram("proc.mourner", 1, func(n int) effect.Eff[[]string] {
	return effect.Do(func(e *effect.Ctx) []string {
		effect.Await(e, effect.TrapExits(true))
		for range n {
			pid := effect.Await(e, effect.Spawn[string](doomed, effect.Unit{}))
			effect.Await(e, effect.Link(pid.ID))
			effect.Await(e, effect.Send(pid, "go"))
		}
		var got []string
		for range n {
			x := effect.Await(e, effect.Receive[effect.Exit]())
			got = append(got, x.From+" "+x.Reason)
		}
		return got
	})
})

// TestProcessSimDeterminism: the same seed gives byte-identical journals,
// exit signals delayed and tasks crashed included.
func TestProcessSimDeterminism(t *testing.T) {
	run := func() string {
		sim := interp.NewSim(7, interp.WithSimOptions(interp.SimOptions{CrashProb: 0.2, DelayProb: 0.5}))
		tk, err := interp.StartProgram(sim, mourner, 4)
		require.NoError(t, err)
		_, err = tk.Wait(context.Background())
		require.NoError(t, err)
		var b strings.Builder
		for _, x := range sim.Tasks() {
			_, err, _ := x.Result()
			fmt.Fprintf(&b, "%s %v\n", x.ID(), err)
			for _, en := range journal(t, x) {
				fmt.Fprintf(&b, "  %s\n", en)
			}
		}
		return b.String() + sim.Schedule()
	}
	first := run()
	require.Contains(t, first, "crash(", "the run has faults")
	for range 2 {
		require.Equal(t, first, run())
	}
}
