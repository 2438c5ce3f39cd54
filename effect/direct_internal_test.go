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
// goroutine runs costs; BenchmarkCountdownDirect pays it once per effect.
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
