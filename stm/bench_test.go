package stm_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/amberrt/amber/stm"
)

func increment(v *stm.Var[int]) func(tx *stm.Tx) (int, error) {
	return func(tx *stm.Tx) (int, error) {
		n := v.Get(tx) + 1
		v.Set(tx, n)
		return n, nil
	}
}

// BenchmarkAtomicIncrementUncontended is one read-modify-write transaction
// per op on one goroutine. Compare with BenchmarkMutexIncrement.
func BenchmarkAtomicIncrementUncontended(b *testing.B) {
	v := stm.NewVar(0)
	inc := increment(v)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stm.Atomically(inc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMutexIncrement is the baseline: a mutex-guarded int increment.
func BenchmarkMutexIncrement(b *testing.B) {
	var mu sync.Mutex
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		mu.Lock()
		n++
		mu.Unlock()
	}
	_ = n
}

// BenchmarkReadOnlyParallel runs read-only transactions over 4 vars on all
// procs while nothing writes them; it should scale with GOMAXPROCS.
func BenchmarkReadOnlyParallel(b *testing.B) {
	vs := []*stm.Var[int]{stm.NewVar(1), stm.NewVar(2), stm.NewVar(3), stm.NewVar(4)}
	sum := func(tx *stm.Tx) (int, error) {
		s := 0
		for _, v := range vs {
			s += v.Get(tx)
		}
		return s, nil
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if s, _ := stm.Atomically(sum); s != 10 {
				b.Errorf("sum = %d", s)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkContendedIncrement increments one var from all procs.
func BenchmarkContendedIncrement(b *testing.B) {
	v := stm.NewVar(0)
	inc := increment(v)
	var ops atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := stm.Atomically(inc); err != nil {
				b.Error(err)
				return
			}
			ops.Add(1)
		}
	})
	if got := v.Load(); got != int(ops.Load()) {
		b.Fatalf("counter = %d after %d increments", got, ops.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
