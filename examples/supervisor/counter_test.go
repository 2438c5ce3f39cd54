package main

import (
	"context"
	"strings"
	"testing"

	"github.com/amberrt/amber/internal/raptest"
	"github.com/amberrt/amber/interp"
	"pgregory.net/rapid"
)

// counterProperty: whatever the schedule, n clients that each increment
// the counter once leave it at n.
func counterProperty(naive bool) func(*rapid.T) {
	return func(rt *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(rt, "clients")
		service, reg := counterService(naive)
		sim := interp.NewSim(0, interp.WithRegistry(reg), interp.WithSimOptions(interp.SimOptions{Chooser: raptest.Draws{T: rt}}))
		tk, err := interp.StartProgram(sim, service, n, interp.WithID("svc"))
		if err != nil {
			rt.Fatal(err)
		}
		v, err := tk.Wait(context.Background())
		if err != nil {
			rt.Fatalf("service failed: %v\nschedule: %s", err, sim.Schedule())
		}
		if v != n {
			rt.Fatalf("lost update: %d clients incremented the counter to %v\nschedule: %s", n, v, sim.Schedule())
		}
	}
}

// TestCounterFixed: the fixed service passes for every schedule rapid
// tries.
func TestCounterFixed(t *testing.T) {
	rapid.Check(t, counterProperty(false))
}

// TestCounterNaiveLosesUpdates: the simulator finds the planted bug and
// rapid reports the seed that reproduces it and the shrunk schedule.
func TestCounterNaiveLosesUpdates(t *testing.T) {
	failed, out := raptest.ExpectFailure(t, counterProperty(true))
	if !failed || !strings.Contains(out, "lost update") || !strings.Contains(out, "-rapid.seed=") || !strings.Contains(out, "schedule: ") {
		t.Fatalf("the simulator should find the lost update and say how to reproduce it; rapid said:\n%s", out)
	}
	t.Logf("rapid's report on the naive service (a failure is expected):\n%s", out)
}
