package stm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Wait watches the vars a retried transaction read. It is returned by
// Attempt for callers that must not block a goroutine (an interpreter
// suspending a task): rerun the transaction once Done is closed.
type Wait struct {
	done      chan struct{}
	fired     atomic.Bool
	cancelled atomic.Bool
	vars      []*varCore
	reads     []Read // the owned vars read, with the stamps read
	cbMu      sync.Mutex
	cb        func()
	park      bool // a parked rerun (varCore.park), not a Retry
}

// OnDone arranges for f to be called once, when Done is closed (at once,
// on this goroutine, if it already is). It lets an interpreter park a task
// on a Wait without a goroutine per waiting task. f runs on the goroutine
// of the committing writer, inside its commit: it must be quick and must
// not block or start a transaction. A later call replaces an earlier f
// that has not run yet.
func (w *Wait) OnDone(f func()) {
	w.cbMu.Lock()
	if w.fired.Load() {
		w.cbMu.Unlock()
		f()
		return
	}
	w.cb = f
	w.cbMu.Unlock()
}

// Done returns a channel that is closed as soon as a var the attempt read
// has been changed by a commit. If one changed between the read and the
// creation of the Wait, the channel is already closed: no wake-up is lost.
func (w *Wait) Done() <-chan struct{} { return w.done }

// Cancel stops watching and releases the Wait's registrations on the vars.
// It is safe to call more than once, and after Done is closed; call it
// when done with a Wait, or the registrations live until each var is
// next written.
func (w *Wait) Cancel() {
	if w.cancelled.Swap(true) {
		return
	}
	for _, c := range w.vars {
		c.waitMu.Lock()
		if _, ok := c.waiters[w]; ok {
			delete(c.waiters, w)
			c.nwait.Store(int32(len(c.waiters)))
		}
		c.waitMu.Unlock()
	}
	w.vars = nil
}

func (w *Wait) fire() {
	if w.fired.CompareAndSwap(false, true) {
		close(w.done)
		w.cbMu.Lock()
		f := w.cb
		w.cb = nil
		w.cbMu.Unlock()
		if f != nil && !w.cancelled.Load() {
			f()
		}
	}
}

// newWait registers a Wait on every var in reads and fires it at once if
// any of them no longer has the version that was read.
//
// No lost wake-up: a committer locks the var with a CAS and then loads
// nwait; a Wait stores nwait (during registration) and then loads the lock
// word. Sequentially consistent atomics guarantee that at least one of the
// two sees the other: if the Wait finds the word unlocked at the version
// read, the lock comes later and the committer sees the Wait. If it finds
// the var locked by a commit that will release with a fence (fenced), that
// commit looks for waiters after its release, so it sees the Wait. If the
// holder releases without a fence, settled waits for the release.
func newWait(reads []readEntry) *Wait {
	w := &Wait{done: make(chan struct{})}
	var seen map[*varCore]struct{}
	if len(reads) > 16 {
		seen = make(map[*varCore]struct{}, len(reads))
	}
	w.vars = make([]*varCore, 0, len(reads))
	vers := make([]uint64, 0, len(reads)) // the version first read of each of w.vars
outer:
	for _, r := range reads {
		if seen != nil {
			if _, ok := seen[r.c]; ok {
				continue
			}
			seen[r.c] = struct{}{}
		} else {
			for _, c := range w.vars {
				if c == r.c {
					continue outer
				}
			}
		}
		w.vars = append(w.vars, r.c)
		vers = append(vers, r.ver)
		r.c.addWaiter(w)
	}
	for _, r := range reads {
		if r.c.settled()&^(locked|fenced) != r.ver {
			w.fire()
			break
		}
	}
	for i, c := range w.vars {
		if c.own == nil {
			continue
		}
		// The stamp of the value read, if the var is still at it; if
		// not, the Wait has fired and its reads no longer matter.
		s := c.own.stamp.Load()
		if c.lock.Load() != vers[i] {
			w.fire()
		}
		w.reads = append(w.reads, Read{Var: c.own.self, Stamp: s})
	}
	return w
}

// Reads returns the owned vars (NewOwned) that the retried transaction
// read, once each, with the stamp of the value it read: what an owner
// that persists its vars (package world) needs to wait for a change
// outside this process, such as a store that wakes a suspended task when
// one of them is written. Anonymous vars are not included.
func (w *Wait) Reads() []Read { return w.reads }

func (c *varCore) addWaiter(w *Wait) {
	c.waitMu.Lock()
	if c.waiters == nil {
		c.waiters = make(map[*Wait]struct{})
	}
	if len(c.waiters) >= 64 && len(c.waiters)&(len(c.waiters)-1) == 0 {
		// Drop waits that fired elsewhere and were never cancelled.
		for o := range c.waiters {
			if o.fired.Load() {
				delete(c.waiters, o)
			}
		}
	}
	c.waiters[w] = struct{}{}
	c.nwait.Store(int32(len(c.waiters)))
	c.waitMu.Unlock()
}

// wake fires and forgets every Wait registered on c.
func (c *varCore) wake() {
	c.waitMu.Lock()
	for w := range c.waiters {
		w.fire()
	}
	clear(c.waiters)
	c.nwait.Store(0)
	c.waitMu.Unlock()
}

// park blocks until var c's lock word is no longer held, the word of a
// lock taken by a commit: until that commit publishes (commit wakes every
// waiter of the vars it writes) or gives its locks back (unlock wakes the
// parked ones). It uses the waiters of Retry, with the same argument
// against a lost wake-up (see newWait): the parked Wait is registered
// before the lock word is checked again, and a commit changes the word
// before it loads nwait.
//
// Parking costs a Wait and a channel, on the slow path only: a commit that
// holds a lock this long is waiting on a store.
func (c *varCore) park(held uint64) {
	if held&fenced == 0 {
		// Held by a commit without a Prepare, which releases without a
		// fence and may miss a registered Wait (see settled): wait for
		// the word to change. Such a commit takes long only when its
		// goroutine is descheduled.
		for i := 0; c.lock.Load() == held; i++ {
			pause(i)
		}
		return
	}
	w := &Wait{done: make(chan struct{}), park: true, vars: []*varCore{c}}
	c.addWaiter(w)
	if c.lock.Load() != held {
		w.fire()
	}
	<-w.done
	w.Cancel()
}

// unpark fires and forgets the parked Waits registered on c, leaving the
// Retry waits: nothing was published, so they have nothing new to see.
func (c *varCore) unpark() {
	c.waitMu.Lock()
	for w := range c.waiters {
		if w.park {
			w.fire()
			delete(c.waiters, w)
		}
	}
	c.nwait.Store(int32(len(c.waiters)))
	c.waitMu.Unlock()
}

// settled returns var c's lock word once no commit without a Prepare holds
// c. Such a commit releases the lock with a plain store and then loads
// nwait with no fence between (release, store_tso.go), so it may miss a
// Wait registered while it held c: that Wait must not sleep on the held
// word, but see the release itself. The hold lasts a few instructions,
// unless the holder's goroutine is descheduled.
func (c *varCore) settled() uint64 {
	for i := 0; ; i++ {
		ver := c.lock.Load()
		if ver&locked == 0 || ver&fenced != 0 {
			return ver
		}
		pause(i)
	}
}

// pause waits a little before the i-th recheck of a lock word: a spin,
// then yields, then sleeps that grow to a millisecond.
func pause(i int) {
	switch {
	case i < 8:
	case i < 64:
		runtime.Gosched()
	default:
		time.Sleep(time.Duration(1<<min(i-64, 10)) * time.Microsecond)
	}
}
