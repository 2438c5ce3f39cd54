// Package bench compares amber's stm with other Go STMs in one run.
package bench

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"

	astm "github.com/anacrolix/stm"

	"github.com/amberrt/amber/stm"
)

func opsPerSec(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkContendedIncrement increments one var from all procs.
func BenchmarkContendedIncrement(b *testing.B) {
	b.Run("amber", func(b *testing.B) {
		v := stm.NewVar(0)
		inc := func(tx *stm.Tx) (int, error) {
			n := v.Get(tx) + 1
			v.Set(tx, n)
			return n, nil
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = stm.Atomically(inc)
			}
		})
		opsPerSec(b)
		if v.Load() != b.N {
			b.Fatalf("counter = %d, want %d", v.Load(), b.N)
		}
	})
	b.Run("anacrolix", func(b *testing.B) {
		v := astm.NewVar(0)
		inc := func(tx *astm.Tx) int {
			n := v.Get(tx) + 1
			v.Set(tx, n)
			return n
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				astm.Atomically(inc)
			}
		})
		opsPerSec(b)
		if got := astm.AtomicGet(v); got != b.N {
			b.Fatalf("counter = %d, want %d", got, b.N)
		}
	})
}

// The read-mostly workload: 64 vars; 90% of the transactions read 4 random
// vars, 10% move one unit between 2 random vars.
const (
	nvars     = 64
	readWidth = 4
)

// BenchmarkReadMostly is the 90%-read / 10%-write workload.
func BenchmarkReadMostly(b *testing.B) {
	b.Run("amber", func(b *testing.B) {
		vs := make([]*stm.Var[int], nvars)
		for i := range vs {
			vs[i] = stm.NewVar(100)
		}
		var seeds atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(seeds.Add(1), 7))
			for pb.Next() {
				a, c, d, e := r.IntN(nvars), r.IntN(nvars), r.IntN(nvars), r.IntN(nvars)
				if r.IntN(10) == 0 {
					_, _ = stm.Atomically(func(tx *stm.Tx) (int, error) {
						vs[a].Set(tx, vs[a].Get(tx)-1)
						vs[c].Set(tx, vs[c].Get(tx)+1)
						return 0, nil
					})
					continue
				}
				_, _ = stm.Atomically(func(tx *stm.Tx) (int, error) {
					return vs[a].Get(tx) + vs[c].Get(tx) + vs[d].Get(tx) + vs[e].Get(tx), nil
				})
			}
		})
		opsPerSec(b)
	})
	b.Run("anacrolix", func(b *testing.B) {
		vs := make([]*astm.Var[int], nvars)
		for i := range vs {
			vs[i] = astm.NewVar(100)
		}
		var seeds atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(seeds.Add(1), 7))
			for pb.Next() {
				a, c, d, e := r.IntN(nvars), r.IntN(nvars), r.IntN(nvars), r.IntN(nvars)
				if r.IntN(10) == 0 {
					astm.Atomically(func(tx *astm.Tx) int {
						vs[a].Set(tx, vs[a].Get(tx)-1)
						vs[c].Set(tx, vs[c].Get(tx)+1)
						return 0
					})
					continue
				}
				astm.Atomically(func(tx *astm.Tx) int {
					return vs[a].Get(tx) + vs[c].Get(tx) + vs[d].Get(tx) + vs[e].Get(tx)
				})
			}
		})
		opsPerSec(b)
	})
}

// BenchmarkUncontendedIncrement is one read-modify-write per op on one
// goroutine.
func BenchmarkUncontendedIncrement(b *testing.B) {
	b.Run("amber", func(b *testing.B) {
		v := stm.NewVar(0)
		inc := func(tx *stm.Tx) (int, error) { v.Set(tx, v.Get(tx)+1); return 0, nil }
		for b.Loop() {
			_, _ = stm.Atomically(inc)
		}
		opsPerSec(b)
	})
	b.Run("anacrolix", func(b *testing.B) {
		v := astm.NewVar(0)
		inc := func(tx *astm.Tx) int { v.Set(tx, v.Get(tx)+1); return 0 }
		for b.Loop() {
			astm.Atomically(inc)
		}
		opsPerSec(b)
	})
}
