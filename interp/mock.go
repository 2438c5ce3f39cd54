package interp

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"
)

// Mock is the interpreter for unit tests: deterministic, single-threaded,
// with a virtual clock. Handlers and activities run inline, Random is
// seeded (seed 0 unless WithSeed says otherwise), every task's journal is
// recorded, and Log ops are only echoed if WithLogger is given.
//
// The virtual clock moves only when told (Advance) or, in Task.Wait, when
// every task is blocked and a timer is pending: then it skips to the
// earliest timer. Waiting for a task that can never finish returns
// ErrDeadlock instead of hanging.
//
// A Mock's methods may be called from one goroutine at a time.
type Mock struct {
	e    *engine
	clk  *virtualClock
	mu   sync.Mutex
	runq []*proc
}

// NewMock returns a mock interpreter.
func NewMock(opts ...MockOption) *Mock {
	cfg := newConfig(append([]MockOption{WithSeed(0)}, opts...), MockOption.mockOption)
	if !cfg.loggerSet {
		cfg.logger = nil
	}
	return newMock(cfg)
}

func newMock(cfg config) *Mock {
	cfg.journal = true
	start := cfg.start
	if start.IsZero() {
		start = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	m := &Mock{clk: &virtualClock{now: start.UTC()}}
	m.e = newEngine(cfg, m.clk, false)
	m.e.sched = m
	return m
}

func (m *Mock) base() *engine { return m.e }

func (m *Mock) push(t *proc, _ *worker) {
	m.mu.Lock()
	m.runq = append(m.runq, t)
	m.mu.Unlock()
}

// Send puts msg in the mailbox of task to.
func (m *Mock) Send(to string, msg any) error { return m.e.send(to, msg, nil) }

// Now returns the virtual time.
func (m *Mock) Now() time.Time { return m.clk.now }

// RunUntilIdle runs tasks until none can make progress without the clock
// moving. It returns the number of task activations.
func (m *Mock) RunUntilIdle() int {
	n := 0
	for {
		m.mu.Lock()
		if len(m.runq) == 0 {
			m.mu.Unlock()
			return n
		}
		t := m.runq[0]
		m.runq = m.runq[1:]
		m.mu.Unlock()
		m.e.process(t, nil)
		n++
	}
}

// Advance moves the virtual clock forward by d, firing the timers that
// come due in order and running the tasks they wake.
func (m *Mock) Advance(d time.Duration) {
	target := m.clk.now.Add(d)
	m.RunUntilIdle()
	for m.clk.fireBefore(target) {
		m.RunUntilIdle()
	}
	m.clk.now = target
	m.RunUntilIdle()
}

func (m *Mock) await(ctx context.Context, t *proc) error {
	for {
		m.RunUntilIdle()
		select {
		case <-t.done:
			return nil
		default:
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !m.clk.fireNext() {
			return fmt.Errorf("%w; waiting for task %s: %s", ErrDeadlock, t.id, describePending(t))
		}
	}
}

// virtualClock is the mock's clock: it moves only when told.
type virtualClock struct {
	now    time.Time
	seq    uint64
	timers timerHeap
}

type vtimer struct {
	at      time.Time
	seq     uint64
	f       func()
	stopped bool
}

func (c *virtualClock) Now() time.Time { return c.now }

func (c *virtualClock) AfterFunc(d time.Duration, f func()) func() {
	c.seq++
	t := &vtimer{at: c.now.Add(d), seq: c.seq, f: f}
	heap.Push(&c.timers, t)
	return func() { t.stopped = true }
}

// fireNext moves the clock to the earliest pending timer and fires it.
func (c *virtualClock) fireNext() bool {
	for c.timers.Len() > 0 {
		t := heap.Pop(&c.timers).(*vtimer)
		if t.stopped {
			continue
		}
		if t.at.After(c.now) {
			c.now = t.at
		}
		t.f()
		return true
	}
	return false
}

// fireBefore fires the earliest timer due at or before target.
func (c *virtualClock) fireBefore(target time.Time) bool {
	for c.timers.Len() > 0 {
		t := c.timers[0]
		if t.stopped {
			heap.Pop(&c.timers)
			continue
		}
		if t.at.After(target) {
			return false
		}
		return c.fireNext()
	}
	return false
}

type timerHeap []*vtimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(*vtimer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
