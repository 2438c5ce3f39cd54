// Package supjob is the workload of the supervision crash test: a durable
// one-for-one supervisor over transient "crashy" children, one per slot.
// Each child does a few steps (an activity, sleeps), then counts a crash
// of its slot in an STM world var and panics, until its slot has crashed
// Crashes times; then it ends normally, and, being transient, is not
// restarted. So the system converges: per slot, exactly Crashes failed
// children and one done child, whatever SIGKILLs hit the worker process.
package supjob

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/supervise"
	"github.com/amberrt/amber/task"
)

// The sizes of the workload.
const (
	Slots   = 4 // children of the supervisor
	Crashes = 3 // crashes of each slot before its child ends normally
)

// SupID is the supervisor task's ID; the children's IDs derive from it.
const SupID = "crashsup"

// Program names.
const (
	SupProgram    = "crashsup"
	CrashyProgram = "crashy"
)

// Counters are the crash counters of the current World, by slot; see
// NewWorld.
var Counters [Slots]*stm.Var[int]

// NewWorld makes the World of crash counters and points Counters at it.
func NewWorld() *world.World {
	w := world.New()
	for i := range Counters {
		Counters[i] = world.Named(w, CounterName(i), 0)
	}
	return w
}

// CounterName names slot's crash counter.
func CounterName(slot int) string { return fmt.Sprintf("crashes/%d", slot) }

// Work is a child's activity: a little time spent outside.
type Work struct {
	effect.Returns[int]
	Slot, N int
}

// Run sleeps a millisecond.
func (a Work) Run(ctx context.Context) (int, error) {
	select {
	case <-time.After(time.Millisecond):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return a.Slot*10 + a.N, nil
}

// CrashMessage is the panic of slot's child on its crash number n (1-based).
func CrashMessage(slot, n int) string { return fmt.Sprintf("crashy %d: crash %d", slot, n) }

// Crashy is the children's program; its input is its slot.
var Crashy = effect.NewProgram(CrashyProgram, 1, func(slot int) effect.Eff[effect.Unit] {
	return effect.Do(func(e *effect.Ctx) effect.Unit {
		for n := range 3 {
			effect.Call(e, Work{Slot: slot, N: n})
			e.Sleep(time.Duration(4+(slot*5+n*3)%9) * time.Millisecond)
		}
		// The count and the decision to crash commit together with the
		// op's journal entry.
		crash := effect.Await(e, effect.AtomicallyLabel("count a crash", func(tx *stm.Tx) (int, error) {
			v := Counters[slot]
			c := v.Get(tx)
			if c >= Crashes {
				return 0, nil
			}
			v.Set(tx, c+1)
			return c + 1, nil
		}))
		// A kill here replays the count from the journal.
		e.Sleep(3 * time.Millisecond)
		if crash > 0 {
			panic(CrashMessage(slot, crash))
		}
		return effect.Unit{}
	})
})

// Sup is the supervisor's program: one-for-one over transient children,
// generous intensity (the test's crashes must not end it).
var Sup = effect.NewProgram(SupProgram, 1, func(effect.Unit) effect.Eff[effect.Unit] {
	children := make([]supervise.Child, Slots)
	for i := range children {
		children[i] = supervise.Child{Name: fmt.Sprintf("slot-%d", i), Start: supervise.Worker(Crashy),
			Input: i, Restart: supervise.Transient}
	}
	return supervise.Supervisor(supervise.Spec{Strategy: supervise.OneForOne, Intensity: 1000, Period: time.Hour,
		Children: children})
})

// Registry is the worker's registry.
func Registry() *task.Registry {
	r := task.NewRegistry()
	for _, err := range []error{
		task.Register(r, Sup),
		task.Register(r, Crashy),
		task.RegisterError(r, "supervise.ErrIntensity", supervise.ErrIntensity),
	} {
		if err != nil {
			panic(err)
		}
	}
	return r
}

// Child is a stored child task.
type Child struct {
	Rec  *task.Record
	Slot int
}

// Snapshot is what the store holds of the workload.
type Snapshot struct {
	Sup      store.Summary
	SupFound bool
	Children []Child
}

// Read reads the supervisor's summary and every child, with its record.
func Read(ctx context.Context, st store.Store) (*Snapshot, error) {
	s := &Snapshot{}
	sups, err := st.List(ctx, store.Filter{Program: SupProgram})
	if err != nil {
		return nil, err
	}
	for _, sum := range sups {
		if sum.ID == SupID {
			s.Sup, s.SupFound = sum, true
		}
	}
	sums, err := st.List(ctx, store.Filter{Program: CrashyProgram})
	if err != nil {
		return nil, err
	}
	for _, sum := range sums {
		rec, _, err := st.Load(ctx, sum.ID)
		if err != nil {
			return nil, err
		}
		var slot int
		if err := task.Unmarshal(rec.Input, &slot); err != nil {
			return nil, fmt.Errorf("child %s: input: %w", sum.ID, err)
		}
		s.Children = append(s.Children, Child{Rec: rec, Slot: slot})
	}
	return s, nil
}

// Finished reports whether every slot has a done child and no child is
// unfinished. A parked task, or a final supervisor, is an error.
func (s *Snapshot) Finished() (bool, error) {
	if !s.SupFound {
		return false, nil
	}
	if s.Sup.Status == task.Parked || s.Sup.Status.Final() {
		return false, fmt.Errorf("supervisor %s is %s: %s", s.Sup.ID, s.Sup.Status, s.Sup.Reason)
	}
	var done [Slots]bool
	finished := true
	var errs []error
	for _, c := range s.Children {
		switch {
		case c.Slot < 0 || c.Slot >= Slots:
			errs = append(errs, fmt.Errorf("child %s has slot %d", c.Rec.ID, c.Slot))
		case c.Rec.Status == task.Parked:
			errs = append(errs, fmt.Errorf("child %s (slot %d) is parked: %s", c.Rec.ID, c.Slot, c.Rec.Reason))
		case c.Rec.Status == task.Done:
			done[c.Slot] = true
		case !c.Rec.Status.Final():
			finished = false
		}
	}
	for _, d := range done {
		finished = finished && d
	}
	return finished, errors.Join(errs...)
}

// Quiet reads the store until the workload is finished and the supervisor
// has nothing left to do: its mailbox is empty and it made no step while
// the children were read (so no child ended meanwhile unseen). It polls
// every poll until ctx ends.
func Quiet(ctx context.Context, st store.Store, poll time.Duration) error {
	for {
		before, err := Read(ctx, st)
		if err != nil {
			return err
		}
		fin, err := before.Finished()
		if err != nil {
			return err
		}
		if fin && before.Sup.Pending == 0 {
			after, err := Read(ctx, st)
			if err != nil {
				return err
			}
			if after.Sup.Pending == 0 && after.Sup.Steps == before.Sup.Steps && len(after.Children) == len(before.Children) {
				if fin, err := after.Finished(); fin || err != nil {
					return err
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not finished: %w\n%s", ctx.Err(), before)
		case <-time.After(poll):
		}
	}
}

// String describes the snapshot, for failures.
func (s *Snapshot) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "supervisor %s: %s, %d steps, %d pending %s\n", s.Sup.ID, s.Sup.Status, s.Sup.Steps, s.Sup.Pending, s.Sup.Reason)
	for _, c := range s.Children {
		fmt.Fprintf(&b, "  %s slot %d: %s %s\n", c.Rec.ID, c.Slot, c.Rec.Status, c.Rec.Reason)
	}
	return b.String()
}

// Short counts the children by status.
func (s *Snapshot) Short() string {
	n := map[task.Status]int{}
	for _, c := range s.Children {
		n[c.Rec.Status]++
	}
	return fmt.Sprintf("supervisor %s (%d steps); %d children: %d done, %d failed, %d unfinished",
		s.Sup.Status, s.Sup.Steps, len(s.Children), n[task.Done], n[task.Failed], len(s.Children)-n[task.Done]-n[task.Failed])
}
