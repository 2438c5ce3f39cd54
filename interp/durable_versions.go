package interp

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// versions is what a durable worker knows of the versions in its store:
// the current version of each program as stored (store.SetCurrent),
// refreshed when the change log says it changed, and the versions this
// worker can run (its registry), which it claims by and heartbeats.
type versions struct {
	mu      sync.RWMutex
	current map[string]int // stored current versions
	seq     uint64         // the last change seen in the log
	can     []task.ProgramVersion
}

// storedCurrent returns the stored current version of program name.
func (d *Durable) storedCurrent(name string) (int, bool) {
	d.v.mu.RLock()
	defer d.v.mu.RUnlock()
	v, ok := d.v.current[name]
	return v, ok
}

// loadVersions reads the stored current versions and the end of the
// change log: at start, and when the log says they changed.
func (d *Durable) loadVersions(ctx context.Context) error {
	cs, err := d.st.Changes(ctx, d.v.seq)
	if err != nil {
		return err
	}
	if len(cs) == 0 && d.v.current != nil {
		return nil
	}
	changed := d.v.current == nil || slices.ContainsFunc(cs, func(c store.Change) bool { return c.Kind == store.ChangeSetCurrent })
	if changed {
		cur, err := d.st.Current(ctx)
		if err != nil {
			return err
		}
		d.v.mu.Lock()
		d.v.current = cur
		d.v.mu.Unlock()
	}
	if len(cs) > 0 {
		d.v.seq = cs[len(cs)-1].Seq
	}
	return nil
}

// heartbeat tells the store which versions this worker runs.
func (d *Durable) heartbeat(ctx context.Context, stopped bool) error {
	return d.st.Heartbeat(ctx, store.WorkerInfo{ID: d.owner, Versions: d.v.can, At: d.e.clock.Now(), Stopped: stopped})
}

// versionLoop polls the change log (every Poll) so that a new current
// version is honoured without a restart, and heartbeats (every
// store.WorkerTTL/6).
func (d *Durable) versionLoop() {
	defer d.wg.Done()
	tick := time.NewTicker(d.opts.Poll)
	defer tick.Stop()
	last := d.e.clock.Now()
	for {
		select {
		case <-d.quit:
			return
		case <-tick.C:
		}
		if err := d.loadVersions(d.e.ctx); err != nil && d.e.ctx.Err() == nil {
			d.e.cfg.logger.Error("amber: reading the version change log", "err", err)
		}
		if now := d.e.clock.Now(); now.Sub(last) >= store.WorkerTTL/6 {
			last = now
			if err := d.heartbeat(d.e.ctx, false); err != nil && d.e.ctx.Err() == nil {
				d.e.cfg.logger.Error("amber: heartbeat", "err", err)
			}
		}
	}
}

// claimable is Claim's filter: the versions this worker can run. A worker
// whose registry is empty can run nothing: its filter matches no task.
func (d *Durable) claimable() []task.ProgramVersion {
	if len(d.v.can) == 0 {
		return []task.ProgramVersion{{Program: "", Version: -1}}
	}
	return d.v.can
}

// releaseLeases lets go, at Close, of the leases this worker holds (kept
// after a step, or taken for a step Close cut short): they expire now,
// so that another worker takes the tasks over at once rather than when
// the leases would have run out.
func (d *Durable) releaseLeases() {
	now := d.e.clock.Now()
	var ids []string
	d.mu.Lock()
	for id, el := range d.cache {
		dt := dur(el.Value.(*proc))
		if (dt.held || dt.active) && now.Before(dt.leaseUntil) {
			ids = append(ids, id)
		}
	}
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, id := range ids {
		// A claim of our own lease, lasting no time: the epoch moves on
		// (nothing of ours commits after it) and the lease has expired.
		d.st.ClaimID(ctx, d.owner, id, now, 0)
	}
	if err := d.heartbeat(ctx, true); err != nil {
		d.e.cfg.logger.Error("amber: last heartbeat", "err", err)
	}
}

// durableResolver is the durable interpreter's task.Resolver: the
// registry's programs, and as a program's current version the one stored
// in the store when this worker has it (else the registry's highest).
type durableResolver struct {
	d   *Durable
	reg *task.Registry
}

// Program returns the registered program.
func (r durableResolver) Program(name string, version int) (effect.AnyProgram, error) {
	return r.reg.Program(name, version)
}

// Current returns the stored current version of program name if this
// worker has it, else the highest registered.
func (r durableResolver) Current(name string) (int, error) {
	if v, ok := r.d.storedCurrent(name); ok {
		if _, err := r.reg.Program(name, v); err == nil {
			return v, nil
		}
	}
	return r.reg.Current(name)
}

// startVersion returns the version a new task of program name runs on
// (StartProgram, StartMany, Spawn): version if given, else newVersion's.
// This worker must have it, unless it is the stored current version of a
// program this worker has another version of; here reports whether it has
// it (if not, the task waits for a worker that has it).
func (d *Durable) startVersion(name string, version int) (v int, here bool, err error) {
	here = true
	if version == 0 {
		if version, here, err = d.newVersion(name); err != nil {
			return 0, false, fmt.Errorf("register %s (task.Register) first: %w", name, err)
		}
	}
	if _, err := d.e.cfg.resolver.Program(name, version); err != nil && here {
		return 0, false, fmt.Errorf("register %s v%d (task.Register) first: %w", name, version, err)
	}
	return version, here, nil
}

// newVersion returns the version a new task of program name starts on
// (StartProgram or Spawn without a version): the stored current version,
// even one this worker does not have (the task then waits, visibly, for
// a worker that has it), if the program is known here; else the
// resolver's. local reports whether this worker has it.
func (d *Durable) newVersion(name string) (version int, local bool, err error) {
	res := d.e.cfg.resolver
	fallback, err := res.Current(name)
	if err != nil {
		return 0, false, err
	}
	if v, ok := d.storedCurrent(name); ok {
		_, err := res.Program(name, v)
		return v, err == nil, nil
	}
	return fallback, true, nil
}
