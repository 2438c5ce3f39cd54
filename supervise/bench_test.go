package supervise_test

import (
	"testing"
	"time"

	"github.com/amberrt/amber/supervise"
)

// BenchmarkSupervisedRestart crashes a supervised worker b.N times under
// the mock interpreter and reports restarts per second: the supervisor's
// Exit handling, the intensity bookkeeping and a fresh spawn and link per
// crash.
func BenchmarkSupervisedRestart(b *testing.B) {
	h := start(&testing.T{}, supervise.Spec{Strategy: supervise.OneForOne, Intensity: 100, Period: 10 * time.Millisecond,
		Children: []supervise.Child{child("w", supervise.Permanent)}})
	id := h.id("w")
	b.ResetTimer()
	for range b.N {
		if err := h.m.Send(id, Cmd("crash")); err != nil {
			b.Fatal(err)
		}
		h.m.RunUntilIdle()
		b.StopTimer()
		next := h.id("w")
		if next == id {
			b.Fatal("not restarted")
		}
		id = next
		h.m.Advance(time.Millisecond) // keep the restart window short
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "restarts/s")
}
