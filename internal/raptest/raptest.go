// Package raptest holds helpers for property tests that drive amber's
// simulator from rapid: a Chooser that draws the schedule from rapid (so a
// failing schedule shrinks), and a recorder for tests that expect rapid to
// find a failure.
package raptest

import (
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// Draws makes the simulator's choices (interp.Chooser) from rapid draws.
type Draws struct {
	// T is the property test's rapid.T.
	T *rapid.T
}

// Intn draws a choice in [0, n).
func (d Draws) Intn(n int) int { return rapid.IntRange(0, n-1).Draw(d.T, "choice") }

// ExpectFailure runs rapid.Check on prop, which is expected to fail, and
// returns whether it failed and what rapid reported (the seed to rerun it
// with and the shrunk draws). No fail file is written.
func ExpectFailure(t testing.TB, prop func(*rapid.T)) (failed bool, report string) {
	nofail := flag.Lookup("rapid.nofailfile")
	old := nofail.Value.String()
	if err := flag.Set("rapid.nofailfile", "true"); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = flag.Set("rapid.nofailfile", old) }()
	rec := &recorder{TB: t}
	rapid.Check(rec, prop)
	return rec.Failed(), rec.String()
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
