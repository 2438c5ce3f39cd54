package interp

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/store"
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
	hs, err := d.startMany([]string{id}, p, version, []any{in})
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// startMany creates the tasks of ins in one store call (one transaction),
// all or none: everything that can fail before the store is checked
// first (the version, the inputs' encoding, IDs given twice), and the
// store refuses the whole call if one ID exists.
func (d *Durable) startMany(ids []string, p effect.AnyProgram, version int, ins []any) ([]handle, error) {
	if p == nil {
		return nil, errors.New("interp: the durable interpreter runs named programs only: use StartProgram")
	}
	name := p.ProgramName()
	version, local, err := d.startVersion(name, version)
	if err != nil {
		return nil, fmt.Errorf("interp: start %s durably: %w", name, err)
	}
	// Each input must be of the program's input type, as the in-memory
	// interpreters check when they start the program: a task stored with
	// another would only fail later, when a worker decodes its input.
	// (The versions of a program share their input type.)
	for i, in := range ins {
		if err := effect.CheckInput(p, in); err != nil {
			if len(ins) > 1 {
				return nil, fmt.Errorf("interp: input %d of %s: %w", i, name, err)
			}
			return nil, err
		}
	}
	now := d.e.clock.Now()
	recs := make([]*task.Record, len(ins))
	var named map[string]bool // IDs given, when there are several
	if len(ids) > 1 {
		named = make(map[string]bool, len(ids))
	}
	for i, in := range ins {
		b, err := task.Marshal(in)
		if err != nil {
			if len(ins) > 1 {
				return nil, fmt.Errorf("interp: input %d of %s: %w", i, name, err)
			}
			return nil, err
		}
		id := ""
		if ids != nil {
			id = ids[i]
		}
		if id == "" {
			id = fmt.Sprintf("%s-%x", name, rand.Uint64())
		} else if named != nil {
			if named[id] {
				return nil, fmt.Errorf("interp: task ID %q given twice: %w", id, store.ErrExists)
			}
			named[id] = true
		}
		recs[i] = &task.Record{ID: id, Program: name, Version: version, Input: b, Status: task.Running, Created: now, Updated: now}
	}
	// The waiters are registered before the tasks can run, so that their
	// outcomes are caught even if they finish before anyone waits. One
	// that is there already (someone waits for that ID) is shared, and
	// left there if the tasks are not created.
	ws := make([]*waiter, len(recs))
	var added []bool
	d.mu.Lock()
	for i, rec := range recs {
		w, ok := d.done[rec.ID]
		if !ok {
			if added == nil {
				added = make([]bool, len(recs))
			}
			w, added[i] = &waiter{ch: make(chan struct{})}, true
			d.done[rec.ID] = w
		}
		ws[i] = w
	}
	d.mu.Unlock()
	if local {
		err = d.create(recs)
	} else {
		// A current version this worker lacks: store the tasks
		// unleased, for a worker that has it.
		err = d.st.Create(d.e.ctx, recs...)
	}
	if err != nil {
		d.mu.Lock()
		for i, rec := range recs {
			if added != nil && added[i] && d.done[rec.ID] == ws[i] {
				delete(d.done, rec.ID)
			}
		}
		d.mu.Unlock()
		return nil, err
	}
	hs := make([]handle, len(recs))
	for i, rec := range recs {
		hs[i] = &storedTask{d: d, id: rec.ID, w: ws[i]}
	}
	return hs, nil
}

// create stores new tasks, leased to this worker, which runs them at
// once: creating and claiming them is one commit (store.CreateClaimed),
// not two. Concurrent starts are grouped into one call: one transaction,
// one flush. The tasks of one call are created together or not at all.
func (d *Durable) create(recs []*task.Record) error { return call(d.quit, d.createq, recs) }

func (d *Durable) creator() {
	defer d.wg.Done()
	batches(d.quit, d.createq, 1024, func(batch []*request[[]*task.Record]) {
		recs := batch[0].v
		if len(batch) > 1 {
			recs = nil
			for _, r := range batch {
				recs = append(recs, r.v...)
			}
		}
		leases, err := d.st.CreateClaimed(d.e.ctx, d.owner, d.e.clock.Now(), d.opts.Lease, recs...)
		if err != nil && len(batch) > 1 {
			// One bad record (an ID that exists) fails the whole call: say
			// which call, by creating them call by call.
			for _, r := range batch {
				ls, err := d.st.CreateClaimed(d.e.ctx, d.owner, d.e.clock.Now(), d.opts.Lease, r.v...)
				if err == nil {
					d.activateNew(r.v, ls)
				}
				r.done <- err
			}
			return
		}
		if err == nil {
			d.activateNew(recs, leases)
		}
		for _, r := range batch {
			r.done <- err
		}
	})
}

// activateNew runs the tasks just created leased here: recs[i] under
// leases[i]. Each record is kept (d.created) for the task's first step,
// which need not read it back; only once created, so that a task of the
// same ID (which made the create fail) never reads another's record.
func (d *Durable) activateNew(recs []*task.Record, leases []store.Lease) {
	d.mu.Lock()
	for _, rec := range recs {
		d.created[rec.ID] = rec
	}
	d.mu.Unlock()
	for i := range recs {
		d.activateAs(leases[i], true)
	}
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
