package stm_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/amberrt/amber/stm"
)

// A txOp reads a var (adding its value to the transaction's accumulator) or
// writes acc+k to a var.
type txOp struct {
	Write bool
	Var   int
	K     int
}

type txProg []txOp

// run executes p against get/set and returns the values it read.
func (p txProg) run(get func(int) int, set func(int, int)) []int {
	acc := 0
	var reads []int
	for _, op := range p {
		if op.Write {
			set(op.Var, acc+op.K)
		} else {
			x := get(op.Var)
			reads = append(reads, x)
			acc += x
		}
	}
	return reads
}

type txKey struct{}

// prepareFunc is an stm.Owner made of a function.
type prepareFunc struct{ f func(c *stm.Commit) error }

func (p *prepareFunc) Prepare(c *stm.Commit) error { return p.f(c) }

// TestSerializable runs random transactions concurrently over random world
// vars and checks the outcome against a serial execution in commit-version
// order: the same final state, and every transaction read what it would
// have read in that serial order. Read-only transactions, which have no
// commit version, must have read the state after some prefix of it.
func TestSerializable(t *testing.T) {
	t.Log("on failure, rapid prints the seed; rerun with -rapid.seed=<seed>")
	rapid.Check(t, func(rt *rapid.T) {
		nvars := rapid.IntRange(1, 5).Draw(rt, "vars")
		opGen := rapid.Custom(func(rt *rapid.T) txOp {
			return txOp{
				Write: rapid.Bool().Draw(rt, "write"),
				Var:   rapid.IntRange(0, nvars-1).Draw(rt, "var"),
				K:     rapid.IntRange(-3, 3).Draw(rt, "k"),
			}
		})
		progGen := rapid.Custom(func(rt *rapid.T) txProg {
			return rapid.SliceOfN(opGen, 1, 6).Draw(rt, "ops")
		})
		workers := rapid.SliceOfN(rapid.SliceOfN(progGen, 1, 8), 2, 4).Draw(rt, "workers")

		versions := map[int]uint64{} // tx id -> commit clock
		var mu sync.Mutex
		own := &prepareFunc{func(c *stm.Commit) error {
			mu.Lock()
			versions[c.Context.Value(txKey{}).(int)] = c.Clock
			mu.Unlock()
			return nil
		}}
		vars := make([]*stm.Var[int], nvars)
		for i := range vars {
			vars[i] = stm.NewOwned(own, fmt.Sprint("v", i), 0, 0)
		}
		type done struct {
			prog    txProg
			reads   []int
			version uint64 // 0 for read-only
		}

		results := make([][]done, len(workers))
		var wg sync.WaitGroup
		for wi, progs := range workers {
			wg.Go(func() {
				for pi, p := range progs {
					id := wi*1000 + pi
					ctx := context.WithValue(context.Background(), txKey{}, id)
					reads, err := stm.AtomicallyContext(ctx, func(tx *stm.Tx) ([]int, error) {
						return p.run(
							func(i int) int { return vars[i].Get(tx) },
							func(i, x int) { vars[i].Set(tx, x) }), nil
					})
					if err != nil {
						rt.Errorf("tx %d: %v", id, err)
						return
					}
					mu.Lock()
					v := versions[id]
					mu.Unlock()
					results[wi] = append(results[wi], done{p, reads, v})
				}
			})
		}
		wg.Wait()

		var writers, readers []done
		for _, rs := range results {
			for _, d := range rs {
				if d.version != 0 {
					writers = append(writers, d)
				} else {
					readers = append(readers, d)
				}
			}
		}
		slices.SortFunc(writers, func(a, b done) int { return int(a.version) - int(b.version) })

		state := make([]int, nvars)
		get := func(i int) int { return state[i] }
		set := func(i, x int) { state[i] = x }
		states := [][]int{slices.Clone(state)}
		for _, d := range writers {
			// Serial replay: reads see earlier writes of the same tx.
			local := slices.Clone(state)
			reads := d.prog.run(func(i int) int { return local[i] }, func(i, x int) { local[i] = x })
			if !slices.Equal(reads, d.reads) {
				rt.Fatalf("tx at version %d read %v, serial order gives %v", d.version, d.reads, reads)
			}
			d.prog.run(get, set)
			states = append(states, slices.Clone(state))
		}
		for i, v := range vars {
			if v.Load() != state[i] {
				rt.Fatalf("var %d = %d, serial order gives %d", i, v.Load(), state[i])
			}
		}
	readers:
		for _, d := range readers {
			for _, s := range states {
				if slices.Equal(d.prog.run(func(i int) int { return s[i] }, func(int, int) {}), d.reads) {
					continue readers
				}
			}
			rt.Fatalf("read-only tx %v read %v, which no serial prefix gives", d.prog, d.reads)
		}
	})
}
