package interp

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// request is one caller's share of a batch (a step to commit, a task to
// create): the batching goroutine answers on done.
type request[T any] struct {
	v    T
	done chan error
}

// call queues v on q and waits for the batch that takes it.
func call[T any](quit <-chan struct{}, q chan<- *request[T], v T) error {
	r := &request[T]{v: v, done: make(chan error, 1)}
	select {
	case q <- r:
	case <-quit:
		return ErrClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-quit:
		return ErrClosed
	}
}

func (d *Durable) start(id string, p effect.AnyProgram, version int, in any, _ *effect.Machine) (handle, error) {
	if p == nil {
		return nil, errors.New("interp: the durable interpreter runs named programs only: use StartProgram")
	}
	name, res := p.ProgramName(), d.e.cfg.resolver
	local := true
	if version == 0 {
		v, here, err := d.newVersion(name)
		if err != nil {
			return nil, fmt.Errorf("interp: register %s (task.Register) before starting it durably: %w", name, err)
		}
		version, local = v, here
	}
	if _, err := res.Program(name, version); err != nil && local {
		return nil, fmt.Errorf("interp: register %s v%d (task.Register) before starting it durably: %w", name, version, err)
	}
	b, err := task.Marshal(in)
	if err != nil {
		return nil, err
	}
	if id == "" {
		id = fmt.Sprintf("%s-%x", name, rand.Uint64())
	}
	now := d.e.clock.Now()
	rec := &task.Record{ID: id, Program: name, Version: version, Input: b, Status: task.Running, Created: now, Updated: now}
	// The waiter is registered before the task can run, so that its
	// outcome is caught even if it finishes before anyone waits.
	w := &waiter{ch: make(chan struct{})}
	d.mu.Lock()
	d.created[id] = rec
	d.done[id] = w
	d.mu.Unlock()
	create := d.create
	if !local {
		// A current version this worker lacks: store the task unleased,
		// for a worker that has it.
		create = func(rec *task.Record) error { return d.st.Create(d.e.ctx, rec) }
	}
	if err := create(rec); err != nil {
		d.mu.Lock()
		delete(d.created, id)
		delete(d.done, id)
		d.mu.Unlock()
		return nil, err
	}
	return &storedTask{d: d, id: id, w: w}, nil
}

// create stores a new task, leased to this worker, which runs it at once:
// creating and claiming it is one commit (store.CreateClaimed), not two.
// Concurrent starts are grouped into one call: one transaction, one
// flush.
func (d *Durable) create(rec *task.Record) error { return call(d.quit, d.createq, rec) }

func (d *Durable) creator() {
	defer d.wg.Done()
	batches(d.quit, d.createq, 1024, func(batch []*request[*task.Record]) {
		recs := make([]*task.Record, len(batch))
		for i, r := range batch {
			recs[i] = r.v
		}
		leases, err := d.st.CreateClaimed(d.e.ctx, d.owner, d.e.clock.Now(), d.opts.Lease, recs...)
		if err != nil && len(batch) > 1 {
			// One bad record (an ID that exists) fails the whole call: say
			// which, by creating them one by one.
			for _, r := range batch {
				ls, err := d.st.CreateClaimed(d.e.ctx, d.owner, d.e.clock.Now(), d.opts.Lease, r.v)
				if err == nil {
					d.activateAs(ls[0], true)
				}
				r.done <- err
			}
			return
		}
		for i, r := range batch {
			if err == nil {
				d.activateAs(leases[i], true)
			}
			r.done <- err
		}
	})
}

// batches calls fn with what q holds, as soon as it holds anything: a
// request that arrives while fn runs joins the next batch. It is how
// concurrent callers share one store transaction.
func batches[T any](quit <-chan struct{}, q <-chan T, max int, fn func([]T)) {
	var batch []T
	for {
		select {
		case <-quit:
			return
		case r := <-q:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < max {
			select {
			case r := <-q:
				batch = append(batch, r)
			default:
				break more
			}
		}
		fn(batch)
	}
}
