package interp

import (
	"time"

	"github.com/amberrt/amber/store"
)

// renewLoop keeps the leases of the tasks whose activity attempts run here
// (the steps that started them kept their leases: store.Step.Keep): every
// quarter of a lease it renews those with less than three quarters left.
// Without it, an attempt that outlives a lease would be taken over by
// another worker and run again while this one still runs it. With it, a
// task whose worker lives is never taken over; one whose worker died is,
// when the last renewal runs out (at most a lease later), or when the
// attempt's ActivityTimeout deadline comes, if that is earlier.
func (d *Durable) renewLoop() {
	defer d.wg.Done()
	tick := time.NewTicker(d.opts.Lease / 4)
	defer tick.Stop()
	for {
		select {
		case <-d.quit:
			return
		case <-tick.C:
			d.renew()
		}
	}
}

// renew renews the kept leases that need it (see renewLoop).
func (d *Durable) renew() {
	now := d.e.clock.Now()
	var ls []store.Lease
	d.mu.Lock()
	for _, el := range d.cache {
		// Fields of a task not active are the worker's: read under d.mu.
		if dt := dur(el.Value.(*proc)); !dt.active && dt.held && dt.leaseUntil.Sub(now) < d.opts.Lease*3/4 {
			ls = append(ls, dt.lease)
		}
	}
	d.mu.Unlock()
	if len(ls) == 0 {
		return
	}
	lost, err := d.st.Renew(d.e.ctx, d.owner, now, d.opts.Lease, ls...)
	if err != nil {
		if d.e.ctx.Err() == nil {
			d.e.cfg.logger.Warn("amber: renewing the leases of running activities", "leases", len(ls), "err", err)
		}
		return
	}
	gone := make(map[string]bool, len(lost))
	for _, id := range lost {
		gone[id] = true
	}
	until := now.Add(d.opts.Lease)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range ls {
		el, ok := d.cache[l.ID]
		if !ok {
			continue
		}
		dt := dur(el.Value.(*proc))
		if dt.active || !dt.held || dt.lease.Epoch != l.Epoch {
			continue // stepped meanwhile: its step decided
		}
		if gone[l.ID] {
			// Taken over (the lease had run out), cancelled or finished
			// elsewhere: the next event of the task claims it again, and
			// learns which.
			dt.held = false
			continue
		}
		dt.leaseUntil = until
	}
}
