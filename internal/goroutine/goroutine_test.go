package goroutine_test

import (
	"iter"
	"sync"
	"testing"

	"github.com/amberrt/amber/internal/goroutine"
)

func TestCurrentIdentifiesGoroutines(t *testing.T) {
	me := goroutine.Current()
	if me == 0 || goroutine.Current() != me {
		t.Fatalf("Current unstable: %x, %x", me, goroutine.Current())
	}
	const n = 16
	ids := make([]uintptr, n)
	var started, release sync.WaitGroup
	started.Add(n)
	release.Add(1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ids[i] = goroutine.Current()
			started.Done()
			release.Wait() // keep all alive together
		})
	}
	started.Wait()
	release.Done()
	wg.Wait()
	seen := map[uintptr]bool{me: true}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("two live goroutines share id %x", id)
		}
		seen[id] = true
	}
}

// TestCurrentInCoroutine checks that an iter.Pull coroutine, which runs
// while its caller waits, is a goroutine of its own, and keeps its identity
// from one resumption to the next.
func TestCurrentInCoroutine(t *testing.T) {
	me := goroutine.Current()
	next, stop := iter.Pull(func(yield func(uintptr) bool) {
		for yield(goroutine.Current()) {
		}
	})
	defer stop()
	first, _ := next()
	second, _ := next()
	if first == me || first == 0 {
		t.Fatalf("coroutine has the caller's id %x (caller %x)", first, me)
	}
	if second != first {
		t.Fatalf("coroutine id changed between resumptions: %x, %x", first, second)
	}
	if goroutine.Current() != me {
		t.Fatal("caller's id changed across coroutine switches")
	}
}

func BenchmarkCurrent(b *testing.B) {
	var sink uintptr
	for range b.N {
		sink += goroutine.Current()
	}
	if sink == 1 {
		b.Log(sink)
	}
}
