package world_test

import (
	"fmt"

	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
)

func Example() {
	w := world.New()
	hits := world.Named(w, "hits", 0)
	w.OnCommit(func(c *world.Commit) error {
		// A durable interpreter would write c.Writes to its store here.
		for _, wr := range c.Writes {
			fmt.Printf("persist %s = %x (version %d)\n", wr.Name, wr.Value, wr.Prev+1)
		}
		return nil
	})
	hits.Store(3)

	snap, _ := w.Snapshot()
	restored := world.New()
	_ = restored.Restore(snap)
	fmt.Println(world.Named(restored, "hits", 0).Load())
	// Output:
	// persist hits = 03 (version 1)
	// 3
}

// Two processes share a counter through a store that versions it. The
// second one's commit is refused as stale: it reruns on the fresh value,
// and no increment is lost.
func ExampleStaleError() {
	type row struct {
		value   []byte
		version uint64
	}
	store := map[string]row{}
	commit := func(c *world.Commit) error {
		for _, wr := range c.Writes {
			if cur := store[wr.Name]; cur.version != wr.Prev {
				fmt.Printf("refused: %s is at version %d, not %d\n", wr.Name, cur.version, wr.Prev)
				return &world.StaleError{Fresh: []world.Value{{Name: wr.Name, Value: cur.value, Version: cur.version}}}
			}
		}
		for _, wr := range c.Writes {
			store[wr.Name] = row{wr.Value, wr.Prev + 1}
		}
		return nil
	}
	a, b := world.New(), world.New()
	a.OnCommit(commit)
	b.OnCommit(commit)
	countA, countB := world.Named(a, "count", 0), world.Named(b, "count", 0)

	inc := func(v *stm.Var[int]) int {
		n, _ := stm.Atomically(func(tx *stm.Tx) (int, error) {
			return stm.Modify(tx, v, func(n int) int { return n + 1 }), nil
		})
		return n
	}
	fmt.Println("a:", inc(countA))
	fmt.Println("b:", inc(countB))
	fmt.Println("store version:", store["count"].version)
	// Output:
	// a: 1
	// refused: count is at version 1, not 0
	// b: 2
	// store version: 2
}
