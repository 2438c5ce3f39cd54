package postgres_test

import (
	"fmt"
	"testing"

	"github.com/amberrt/amber/internal/durabench"
	"github.com/amberrt/amber/internal/pgtest"
)

// The durable interpreter's benchmarks on PostgreSQL: the same workloads
// as store/sqlite's (internal/durabench), each in a fresh schema of the
// database of AMBER_TEST_POSTGRES (skipped without it). Compare with the
// peers of the same run in bench/ (DBOS Transact).

// BenchmarkThreeStepLatencyPostgres: one task at a time running three
// sequential activities, from start to result; reports the median and
// 99th percentile, and the store transactions each task cost
// (commits/workflow).
func BenchmarkThreeStepLatencyPostgres(b *testing.B) {
	p := durabench.Steps(3)
	env := durabench.Open(b, pgtest.Open(b, "bench_lat_"), p)
	durabench.Latency(b, env, p, "l")
}

// BenchmarkWorkflowThroughputPostgres: 2,000 tasks, each running one
// trivial activity and completing, started from 64 goroutines; reports
// workflows per second, first start to last completion. Run with
// -benchtime=1x.
func BenchmarkWorkflowThroughputPostgres(b *testing.B) {
	const tasks = 2000
	p := durabench.Steps(1)
	env := durabench.Open(b, pgtest.Open(b, "bench_wf_"), p)
	b.ResetTimer()
	for i := range b.N {
		durabench.RunAll(b, env, p, tasks, fmt.Sprint("w", i))
	}
	b.ReportMetric(float64(tasks*b.N)/b.Elapsed().Seconds(), "wf/s")
}
