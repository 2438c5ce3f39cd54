package effect

import (
	"testing"
	"time"

	"github.com/amberrt/amber/internal/goroutine"
)

// bodyGoroutine is the baseline's notion of the running goroutine: known in
// advance, read from a global so that the compiler cannot fold the
// comparison.
var bodyGoroutine uintptr

// BenchmarkGoroutineCheck measures the check every direct-style call makes
// (onBody: is this the body's goroutine?) against the same comparison with
// the goroutine already known. extra-ns/check is what asking which
// goroutine runs costs; BenchmarkCountdownDirect pays it once per effect
// (callStart checks the goroutine).
func BenchmarkGoroutineCheck(b *testing.B) {
	var e Ctx
	bodyGoroutine = goroutine.Current()
	e.gate.Store(bodyGoroutine)
	passed := 0
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if e.onBody() {
			passed++
		}
	}
	checkNs := time.Since(start).Nanoseconds()
	b.StopTimer()
	start = time.Now()
	for range b.N {
		if bodyGoroutine == e.gate.Load() {
			passed--
		}
	}
	baseNs := time.Since(start).Nanoseconds()
	if passed != 0 {
		b.Fatalf("the check and its baseline disagree %d times", passed)
	}
	n := float64(b.N)
	b.ReportMetric(float64(checkNs)/n, "ns/check")
	b.ReportMetric(float64(baseNs)/n, "base-ns/check")
	b.ReportMetric(float64(checkNs-baseNs)/n, "extra-ns/check")
}

type bigOp struct{ Returns[*[64]byte] }

type smallOp struct{ Returns[int] }

// TestCallDropsItsResult checks that a Ctx does not keep a result that may
// hold pointers once the body has read it and waits again: the cell Call
// reads from is cleared by the next Call.
func TestCallDropsItsResult(t *testing.T) {
	var ctx *Ctx
	p := Do(func(e *Ctx) int {
		ctx = e
		b := Call(e, bigOp{})
		return int(b[0]) + Call(e, smallOp{})
	})
	m := NewMachine(p)
	m.Run()
	big := &[64]byte{41}
	if err := Resume(m, m.Pending()[0].ID, big); err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, c := range ctx.cells {
		if c, ok := c.(*cell[*[64]byte]); ok && c.v != nil {
			held++
		}
	}
	if held != 0 {
		t.Fatal("the body waits in its next Call, and its Ctx still holds the previous result")
	}
	if err := Resume(m, m.Pending()[0].ID, 1); err != nil {
		t.Fatal(err)
	}
	if r, err := m.Result(); err != nil || r != 42 {
		t.Fatalf("result %v, %v; want 42", r, err)
	}
}
