package interp

import (
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// poke makes the claim loop look for ready tasks now.
func (d *Durable) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *Durable) claimLoop() {
	defer d.wg.Done()
	var ready <-chan struct{}
	if n, ok := d.st.(store.Notifier); ok {
		ready = n.Ready()
	}
	tick := time.NewTicker(d.opts.Poll)
	defer tick.Stop()
	d.wakeParked()
	for {
		for {
			leases, err := d.st.Claim(d.e.ctx, d.owner, 256, d.e.clock.Now(), d.opts.Lease, d.claimable()...)
			if err != nil {
				if d.e.ctx.Err() == nil {
					d.e.cfg.logger.Error("amber: claiming tasks", "err", err)
				}
				break
			}
			for _, l := range leases {
				d.activate(l)
			}
			if len(leases) < 256 {
				break
			}
		}
		select {
		case <-d.quit:
			return
		case <-d.kick:
		case <-ready:
		case <-tick.C:
		}
	}
}

// wakeParked wakes, at the worker's start, the parked and diverged tasks
// whose program version this worker has: this build may be the one that
// fits them (a diverged task that still does not fit goes back to
// Diverged after one replay).
func (d *Durable) wakeParked() {
	var ids []string
	for _, status := range []task.Status{task.Parked, task.Diverged} {
		aside, err := d.st.List(d.e.ctx, store.Filter{Status: status})
		if err != nil {
			d.e.cfg.logger.Error("amber: listing tasks set aside", "status", status, "err", err)
			continue
		}
		for _, s := range aside {
			if _, err := d.e.cfg.resolver.Program(s.Program, s.Version); err == nil {
				ids = append(ids, s.ID)
			}
		}
	}
	if len(ids) > 0 {
		if err := d.st.Wake(d.e.ctx, ids...); err != nil {
			d.e.cfg.logger.Error("amber: waking tasks set aside", "err", err)
		}
	}
}

// activate hands a claimed task to the workers.
func (d *Durable) activate(l store.Lease) { d.activateAs(l, false) }

// activateAs hands a leased task to the workers; born says that this
// worker created it leased (CreateClaimed), so that no message can have
// come before its lease: its first step reads none (one that comes later
// makes it ready in the store, as under a held lease, and it is read when
// the task is claimed again).
func (d *Durable) activateAs(l store.Lease, born bool) {
	d.mu.Lock()
	var t *proc
	if el, ok := d.cache[l.ID]; ok {
		t = el.Value.(*proc)
		d.lru.MoveToFront(el)
		if dt := dur(t); dt.active {
			dt.again, dt.nextLease = true, &l
			d.mu.Unlock()
			return
		}
	} else {
		t = &proc{e: d.e, id: l.ID, done: make(chan struct{}), port: &durableTask{d: d}}
		d.cache[l.ID] = d.lru.PushFront(t)
	}
	dt := dur(t)
	dt.active, dt.lease, dt.held, dt.born = true, l, false, born
	dt.leaseUntil = d.e.clock.Now().Add(d.opts.Lease)
	d.evict() // after t is active: evict must not take the task it is making room for
	d.mu.Unlock()
	d.enqueue(t)
}

func (d *Durable) enqueue(t *proc) {
	select {
	case d.workq <- t:
	case <-d.quit:
	}
}

// push is the scheduler hook: a local event (a timer, an activity, an STM
// wake-up) made t runnable. The task must be claimed again to run.
func (d *Durable) push(t *proc, _ *worker) {
	dt := dur(t)
	d.mu.Lock()
	if el, ok := d.cache[t.id]; !ok || el.Value != t {
		d.mu.Unlock()
		return // forgotten or evicted: the store wakes it
	}
	if dt.active {
		dt.again = true
		d.mu.Unlock()
		return
	}
	dt.active = true
	if dt.held && d.e.clock.Now().Before(dt.leaseUntil.Add(-d.opts.Lease/4)) {
		// The last step kept the lease for this: no claim needed, and no
		// message read: messages that came meanwhile made the task ready
		// in the store, and it is claimed again once it lets the lease go.
		dt.held, dt.local = false, true
		d.mu.Unlock()
		d.enqueue(t)
		return
	}
	dt.held = false
	d.mu.Unlock()
	go d.reclaim(t)
}

// retake claims task id again, to run it from the store.
func (d *Durable) retake(id string) {
	l, err := d.st.ClaimID(d.e.ctx, d.owner, id, d.e.clock.Now(), d.opts.Lease)
	if err == nil {
		d.activate(l)
	}
}

// reclaim leases t again for a local event.
func (d *Durable) reclaim(t *proc) {
	l, err := d.st.ClaimID(d.e.ctx, d.owner, t.id, d.e.clock.Now(), d.opts.Lease)
	if err != nil {
		// Leased elsewhere, finished, or the store failed: whoever has it
		// will run it; the event is dropped (an activity's attempt will be
		// run again when its deadline comes).
		d.mu.Lock()
		dur(t).active = false
		d.mu.Unlock()
		return
	}
	dt := dur(t)
	dt.lease = l
	dt.leaseUntil = d.e.clock.Now().Add(d.opts.Lease)
	d.enqueue(t)
}

func (d *Durable) work() {
	defer d.wg.Done()
	for {
		select {
		case <-d.quit:
			return
		case t := <-d.workq:
			d.step(t)
		}
	}
}

// release lets t go after a step that could not run.
func (d *Durable) release(t *proc) {
	dt := dur(t)
	d.mu.Lock()
	dt.active = false
	again := dt.again
	dt.again = false
	next := dt.nextLease
	dt.nextLease = nil
	if next != nil && next.Epoch < dt.lease.Epoch {
		// A claim that lost to a later one of ours (a timer's reclaim
		// raced the claim loop): running under it would fail to commit
		// and forget the task, dropping the activity it just started.
		next, again = nil, true
	}
	d.mu.Unlock()
	if next != nil {
		d.activate(*next)
	} else if again {
		d.push(t, nil)
	}
}
