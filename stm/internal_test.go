package stm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// waitForWaiters yields until v has n registered waiters. It is not a timed
// wait: the test fails by timeout only if the waiter never registers.
func waitForWaiters(c *varCore, n int32) {
	for c.nwait.Load() < n {
		runtime.Gosched()
	}
}

// TestBlockedTransactionIgnoresUnrelatedWrites checks that a transaction
// blocked in Retry is rerun once per change of a var it read, and never for
// writes to other vars.
func TestBlockedTransactionIgnoresUnrelatedWrites(t *testing.T) {
	x, unrelated := NewVar(0), NewVar(0)
	var runs atomic.Int32
	done := make(chan int)
	go func() {
		n, _ := Atomically(func(tx *Tx) (int, error) {
			runs.Add(1)
			if x.Get(tx) < 2 {
				tx.Retry()
			}
			return x.Get(tx), nil
		})
		done <- n
	}()
	waitForWaiters(&x.core, 1)
	for i := range 100 {
		unrelated.Store(i)
	}
	if got := runs.Load(); got != 1 {
		t.Fatalf("ran %d times before x changed; unrelated writes woke it", got)
	}
	x.Store(1) // wakes it; it retries again
	waitForWaiters(&x.core, 1)
	if got := runs.Load(); got != 2 {
		t.Fatalf("ran %d times after one change of x, want 2", got)
	}
	x.Store(2)
	if n := <-done; n != 2 {
		t.Fatalf("got %d", n)
	}
	if got := runs.Load(); got != 3 {
		t.Fatalf("ran %d times, want 3", got)
	}
	if n := unrelated.core.nwait.Load() + x.core.nwait.Load(); n != 0 {
		t.Fatalf("%d registrations left behind", n)
	}
}

func TestCurgIdentifiesGoroutines(t *testing.T) {
	me := curg()
	if me == 0 || curg() != me {
		t.Fatalf("curg unstable: %x, %x", me, curg())
	}
	const n = 16
	ids := make([]uintptr, n)
	var started, release sync.WaitGroup
	started.Add(n)
	release.Add(1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ids[i] = curg()
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

// TestManyWaitingTransactions puts more goroutines inside transactions at
// once than the slot table holds, so the overflow path is used, nesting is
// still detected there, and everyone is woken.
func TestManyWaitingTransactions(t *testing.T) {
	const n = slotLines*lineSlots + 200
	gate := NewVar(false)
	var wg sync.WaitGroup
	var nested atomic.Int32
	for range n {
		wg.Go(func() {
			_, err := Atomically(func(tx *Tx) (int, error) {
				if !gate.Get(tx) {
					tx.Retry()
				}
				if _, err := Atomically(func(*Tx) (int, error) { return 0, nil }); err != nil {
					nested.Add(1)
				}
				return 0, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	waitForWaiters(&gate.core, n)
	if overflowN.Load() == 0 {
		t.Fatal("the overflow path was not used")
	}
	gate.Store(true)
	wg.Wait()
	if nested.Load() != n {
		t.Fatalf("nesting detected %d times, want %d", nested.Load(), n)
	}
	if overflowN.Load() != 0 {
		t.Fatal("overflow entries left behind")
	}
}

// TestWaitSeesPlainRelease: a commit without a Prepare releases its lock
// without a fence and may then miss a Wait that registered while it held
// the var (release, store_tso.go). The Wait must see the release itself:
// here the commit never looks for waiters at all, and newWait must still
// return a fired Wait, and park must still return.
func TestWaitSeesPlainRelease(t *testing.T) {
	v := NewVar(0)
	c := &v.core
	ver := c.lock.Load()
	c.lock.Store(ver | locked) // held by a commit without a Prepare
	got := make(chan *Wait)
	go func() { got <- newWait([]readEntry{{c, ver}}) }()
	waitForWaiters(c, 1)
	storeWord(c, 1)
	release(c, ver+2) // published; nwait is not looked at
	w := <-got
	select {
	case <-w.Done():
	default:
		t.Fatal("the Wait registered on a held var did not fire on its release")
	}
	w.Cancel()

	ver += 2
	c.lock.Store(ver | locked)
	parkedDone := make(chan struct{})
	go func() {
		c.park(ver | locked)
		close(parkedDone)
	}()
	release(c, ver+2)
	<-parkedDone // a park that slept on the held word would never return
}
