package interp

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Live is the in-memory runtime: many tasks on a small pool of worker
// goroutines, with the real clock. A task blocked on Receive, Sleep or an
// STM Retry holds no goroutine (unless it is written in direct style, whose
// coroutine stays parked); handlers and activities run on goroutines of
// their own so that a slow one blocks no worker, and the branches of a Par
// run concurrently.
//
// Live keeps tasks in memory only: use the durable interpreter for tasks
// that must survive the process. With WithJournal it records journals,
// which Replay replays and Restore continues from.
type Live struct {
	e       *engine
	mu      sync.Mutex
	cond    *sync.Cond
	q       []*proc
	queued  atomic.Int32 // len(q), for push to read without mu
	closed  bool
	busy    int // workers running a task
	idle    *sync.Cond
	wg      sync.WaitGroup
	workers int
	alive   int // workers not yet returned (after Close)
	// held is signalled when a task for whose schedule a snapshot waits
	// (hold) is left, and when the last worker returns; wanting counts
	// the snapshots that wait.
	held    *sync.Cond
	wanting int
}

// NewLive starts a live interpreter. Close it when done.
func NewLive(opts ...LiveOption) *Live {
	cfg := newConfig(opts, LiveOption.liveOption)
	l := &Live{workers: cfg.workers}
	if l.workers <= 0 {
		l.workers = runtime.GOMAXPROCS(0)
	}
	l.cond = sync.NewCond(&l.mu)
	l.idle = sync.NewCond(&l.mu)
	l.held = sync.NewCond(&l.mu)
	l.alive = l.workers
	l.e = newEngine(cfg, realClock{}, true)
	l.e.sched = l
	for range l.workers {
		l.wg.Add(1)
		go l.work()
	}
	return l
}

func (l *Live) base() *engine { return l.e }

// Send puts msg in the mailbox of task to.
func (l *Live) Send(to string, msg any) error { return l.e.send(to, msg, nil) }

// Close stops the workers. Tasks still running are abandoned.
func (l *Live) Close() error {
	l.e.stop()
	l.mu.Lock()
	l.closed = true
	l.cond.Broadcast()
	l.idle.Broadcast()
	l.mu.Unlock()
	l.wg.Wait()
	return nil
}

// maxHandoffs bounds how many tasks in a row a worker runs from its
// hand-off slot before it lets the shared queue go first. While the shared
// queue is empty there is nothing to let go first: the worker keeps
// handing off (two tasks that message each other stay on one worker, with
// no lock and no wake-up of another worker between them).
const maxHandoffs = 64

func (l *Live) push(t *proc, w *worker) {
	if w != nil && w.next == nil {
		if w.handoffs >= maxHandoffs && l.queued.Load() == 0 {
			w.handoffs = 0
		}
		if w.handoffs < maxHandoffs {
			w.next = t
			return
		}
	}
	l.mu.Lock()
	l.q = append(l.q, t)
	l.queued.Store(int32(len(l.q)))
	l.cond.Signal()
	l.mu.Unlock()
}

func (l *Live) work() {
	defer l.wg.Done()
	w := &worker{}
	for {
		var t *proc
		if w.next != nil {
			t, w.next = w.next, nil
			w.handoffs++
		} else {
			w.handoffs = 0
			l.mu.Lock()
			if w.busy {
				w.busy = false
				l.busy--
				if l.busy == 0 && len(l.q) == 0 {
					l.idle.Broadcast()
				}
			}
			for len(l.q) == 0 && !l.closed {
				l.cond.Wait()
			}
			if l.closed {
				if l.alive--; l.alive == 0 {
					l.held.Broadcast() // hold: no worker steps any task now
				}
				l.mu.Unlock()
				return
			}
			t = l.q[0]
			l.q[0] = nil
			l.q = l.q[1:]
			l.queued.Store(int32(len(l.q)))
			w.busy = true
			l.busy++
			l.mu.Unlock()
		}
		l.e.steps(t, w)
	}
}

// hold makes the caller the holder of t's schedule (schedule.go), for a
// snapshot: the live worker steps t without stepMu, and a live sender
// may write t's mailbox without mu while it holds the schedule (deliver's
// fast path), so a snapshot of t must hold it too. If t is scheduled, hold
// waits until it is left (leave and unschedule tell it, through stWanted
// and left): until the step that runs it ends, or, for a task that waits
// in the queue, until a worker has stepped it. It reports false, without
// taking the schedule, once no worker runs (after Close): then only a
// sender under mu writes t, as under Mock.
//
// A snapshot must therefore not be taken from the code of a program
// (a continuation, a direct-style body), which runs on a worker: the
// task it waits for may be the one this worker runs next.
func (l *Live) hold(t *proc) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		s := t.st.Load()
		if s&stIdle != 0 {
			if t.st.CompareAndSwap(s, s&^stIdle) {
				return true
			}
			continue
		}
		if l.alive == 0 {
			return false
		}
		// Set stWanted under l.mu, before waiting: whoever leaves t
		// after this sees it, and left takes l.mu to signal, which it
		// gets only once this waits.
		if s&stWanted == 0 && !t.st.CompareAndSwap(s, s|stWanted) {
			continue
		}
		l.wanting++
		l.held.Wait()
		l.wanting--
	}
}

// unhold leaves t, whose schedule hold gave the caller: if something
// arrived meanwhile, t goes to a worker.
func (l *Live) unhold(t *proc) {
	if t.finished {
		t.unschedule()
		return
	}
	if !t.leave() {
		l.push(t, nil)
	}
}

// left wakes the snapshots that wait in hold: t, which one of them
// wanted, was left. stWanted is cleared once no snapshot waits (else the
// next to leave t tells them again).
func (l *Live) left(t *proc) {
	l.mu.Lock()
	if l.wanting == 0 {
		t.st.And(^uint32(stWanted))
	}
	l.held.Broadcast()
	l.mu.Unlock()
}

// WaitIdle waits until no task is runnable and every worker is idle: every
// task has finished or waits on something (a message, a timer, an
// activity). Timers and activities in flight may make tasks runnable again
// later.
func (l *Live) WaitIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for (l.busy > 0 || len(l.q) > 0) && !l.closed {
		l.idle.Wait()
	}
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now().UTC().Round(0) }

func (realClock) AfterFunc(d time.Duration, f func()) func() {
	t := time.AfterFunc(d, f)
	return func() { t.Stop() }
}
