package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/amberrt/amber/interp"
	"pgregory.net/rapid"
)

// draws makes the simulator's scheduling choices from rapid, so that rapid
// shrinks a failing schedule to a small one.
type draws struct{ t *rapid.T }

func (d draws) Intn(n int) int { return rapid.IntRange(0, n-1).Draw(d.t, "choice") }

// counterProperty: whatever the schedule, n clients that each increment
// the counter once leave it at n.
func counterProperty(naive bool) func(*rapid.T) {
	return func(rt *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(rt, "clients")
		service, reg := counterService(naive)
		sim := interp.NewSim(0, interp.WithRegistry(reg), interp.WithSimOptions(interp.SimOptions{Chooser: draws{rt}}))
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
	rec := &recorder{TB: t}
	nofail := flag.Lookup("rapid.nofailfile")
	old := nofail.Value.String()
	if err := flag.Set("rapid.nofailfile", "true"); err != nil { // an expected failure leaves no file
		t.Fatal(err)
	}
	defer func() { _ = flag.Set("rapid.nofailfile", old) }()
	rapid.Check(rec, counterProperty(true))
	out := rec.String()
	if !rec.failed || !strings.Contains(out, "lost update") || !strings.Contains(out, "-rapid.seed=") || !strings.Contains(out, "schedule: ") {
		t.Fatalf("the simulator should find the lost update and say how to reproduce it; rapid said:\n%s", out)
	}
	t.Logf("rapid's report on the naive service (a failure is expected):\n%s", out)
}

// recorder is a rapid.TB that records a failure instead of failing.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	buf    strings.Builder
	failed bool
}

func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(&r.buf, format+"\n", args...)
}
func (r *recorder) Log(args ...any)                   { r.Logf("%s", fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) { r.Logf(format, args...); r.Fail() }
func (r *recorder) Error(args ...any)                 { r.Log(args...); r.Fail() }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...) }
func (r *recorder) FailNow()                          { r.Fail() }
func (r *recorder) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}
func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}
