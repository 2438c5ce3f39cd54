package store

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/amberrt/amber/task"
)

// Versions: what the store keeps so that builds run side by side on it.
//
// A program's current version (SetCurrent) is the one its new tasks start
// on; without one stored, workers use the highest version they have. A
// retired version (Retire) is one the operator is done with. Every such
// change, and every migration of a task (Migrate), is appended to the
// change log (Changes), which workers poll to honour a change without a
// restart. Workers say which versions they can run (Heartbeat), and Claim
// gives a worker only tasks it can run.

// The kinds of Change.
const (
	// ChangeSetCurrent: Program's current version became Version.
	ChangeSetCurrent = "set-current"
	// ChangeRetire: Version of Program was retired; Data is
	// {"force":true,"in_flight":N} when it was forced past N tasks in
	// flight.
	ChangeRetire = "retire"
	// ChangeMigrate: a task of Program moved to Version; Data is
	// {"task":ID,"from":V}.
	ChangeMigrate = "migrate"
)

// Change is an entry of the change log (Store.Changes). The log is
// generic: a kind, the program and version it concerns, and a small JSON
// payload whose shape the kind defines.
type Change struct {
	// Seq numbers the changes from 1, in the order they were made.
	Seq uint64
	// At is when the change was made (the store's clock).
	At time.Time
	// Kind says what changed: ChangeSetCurrent, ChangeRetire,
	// ChangeMigrate, or a kind a later amber adds.
	Kind    string
	Program string
	Version int
	// Data is the kind's JSON payload, or nil.
	Data json.RawMessage
}

// String renders c on one line.
func (c Change) String() string {
	s := fmt.Sprintf("#%d %s %s %s v%d", c.Seq, c.At.UTC().Format(time.RFC3339), c.Kind, c.Program, c.Version)
	if len(c.Data) > 0 {
		s += " " + string(c.Data)
	}
	return s
}

// WorkerTTL is how long a worker's heartbeat keeps it live: a worker
// whose last heartbeat is older is presumed gone. Workers heartbeat well
// within it (the durable interpreter: every WorkerTTL/6).
const WorkerTTL = 30 * time.Second

// WorkerInfo is a worker's heartbeat: which versions it can run.
type WorkerInfo struct {
	// ID names the worker (its lease owner name).
	ID string
	// Versions are the (program, version) pairs it can run.
	Versions []task.ProgramVersion
	// At is the time of the heartbeat (the worker's clock).
	At time.Time
	// Stopped reports that the worker said it stopped (it closed).
	Stopped bool
}

// Live reports whether w is presumed running at now: it has not stopped
// and its heartbeat is younger than WorkerTTL.
func (w WorkerInfo) Live(now time.Time) bool {
	return !w.Stopped && now.Sub(w.At) < WorkerTTL
}

// Can reports whether w can run version of program.
func (w WorkerInfo) Can(program string, version int) bool {
	return slices.Contains(w.Versions, task.ProgramVersion{Program: program, Version: version})
}

// Drain is where a version is in its life.
type Drain string

// The drain states of a version.
const (
	// Active: the version is current for its program.
	Active Drain = "active"
	// Draining: not current, with tasks in flight.
	Draining Drain = "draining"
	// Drained: not current, no task in flight.
	Drained Drain = "drained"
)

// VersionInfo describes one version of one program (Store.Versions).
type VersionInfo struct {
	// Program and Version name the version.
	Program string
	Version int
	// Current reports that new tasks of Program start on this version:
	// the one stored by SetCurrent, or, with none stored, the highest
	// version known (from tasks and workers).
	Current bool
	// Stored reports that Current comes from SetCurrent, not the default.
	Stored bool
	// Retired reports that the version was retired (Retire).
	Retired bool
	// InFlight counts the unfinished tasks by status; Finished counts the
	// others.
	InFlight map[task.Status]int
	Finished int
	// Oldest is the ID of the oldest unfinished task (by creation), and
	// OldestCreated its creation time; "" when none is in flight.
	Oldest        string
	OldestCreated time.Time
	// Drain is the version's drain state.
	Drain Drain
	// Workers are the live workers that can run the version (from their
	// heartbeats), by ID.
	Workers []string
}

// Total returns the number of tasks in flight.
func (v *VersionInfo) Total() int {
	n := 0
	for _, c := range v.InFlight {
		n += c
	}
	return n
}

// VersionCount is a store's raw count of the tasks of one version in one
// status, and its oldest task: what a Store implementation reads to make
// its Versions (see MakeVersions).
type VersionCount struct {
	// Program, Version and Status select the tasks counted; Count is
	// how many there are.
	Program string
	Version int
	Status  task.Status
	Count   int
	// Oldest is the ID and Created the creation time of the oldest task
	// counted.
	Oldest  string
	Created time.Time
}

// MakeVersions builds the answer of Store.Versions for program ("" for
// every program) from what a store read: the task counts, the stored
// current versions, the retired versions and the workers' heartbeats, at
// now. Store implementations call it, so that every store derives the
// current version, the drain state and the workers in one way.
func MakeVersions(program string, counts []VersionCount, current map[string]int, retired []task.ProgramVersion, workers []WorkerInfo, now time.Time) []VersionInfo {
	byKey := map[task.ProgramVersion]*VersionInfo{}
	get := func(p string, v int) *VersionInfo {
		k := task.ProgramVersion{Program: p, Version: v}
		if vi, ok := byKey[k]; ok {
			return vi
		}
		vi := &VersionInfo{Program: p, Version: v, InFlight: map[task.Status]int{}}
		byKey[k] = vi
		return vi
	}
	want := func(p string) bool { return program == "" || p == program }
	for _, c := range counts {
		if !want(c.Program) {
			continue
		}
		vi := get(c.Program, c.Version)
		if c.Status.Final() {
			vi.Finished += c.Count
			continue
		}
		vi.InFlight[c.Status] += c.Count
		if vi.Oldest == "" || c.Created.Before(vi.OldestCreated) || c.Created.Equal(vi.OldestCreated) && c.Oldest < vi.Oldest {
			vi.Oldest, vi.OldestCreated = c.Oldest, c.Created
		}
	}
	for p, v := range current {
		if want(p) {
			get(p, v)
		}
	}
	for _, r := range retired {
		if want(r.Program) {
			get(r.Program, r.Version).Retired = true
		}
	}
	for _, w := range workers {
		if !w.Live(now) {
			continue
		}
		for _, pv := range w.Versions {
			if want(pv.Program) {
				vi := get(pv.Program, pv.Version)
				vi.Workers = append(vi.Workers, w.ID)
			}
		}
	}
	out := make([]VersionInfo, 0, len(byKey))
	highest := map[string]int{}
	for _, vi := range byKey {
		slices.Sort(vi.Workers)
		if h, ok := highest[vi.Program]; !ok || vi.Version > h {
			highest[vi.Program] = vi.Version
		}
		out = append(out, *vi)
	}
	for i := range out {
		vi := &out[i]
		if v, ok := current[vi.Program]; ok {
			vi.Current, vi.Stored = v == vi.Version, v == vi.Version
		} else {
			vi.Current = highest[vi.Program] == vi.Version
		}
		switch {
		case vi.Current:
			vi.Drain = Active
		case vi.Total() > 0:
			vi.Drain = Draining
		default:
			vi.Drain = Drained
		}
	}
	slices.SortFunc(out, func(a, b VersionInfo) int {
		return cmp.Or(cmp.Compare(a.Program, b.Program), cmp.Compare(a.Version, b.Version))
	})
	return out
}

// Repin is a migration of a task to another version of its program
// (Store.Migrate): fenced by the lease it is made under, like a Step.
type Repin struct {
	// ID is the task; Owner and Epoch the lease held on it, and Steps its
	// committed steps when the migrator checked its journal: a step taken
	// since refuses the move (the journal must be checked again).
	ID    string
	Owner string
	Epoch uint64
	Steps uint64
	// From is the version the task runs now, To the one it moves to.
	From, To int
	// At is when the move is made (the migrator's clock).
	At time.Time
}

// ChangeRetireData and ChangeMigrateData are the payloads of the changes
// of those kinds.
type (
	ChangeRetireData struct {
		// Force is set when the retire was forced past InFlight tasks.
		Force    bool `json:"force,omitempty"`
		InFlight int  `json:"in_flight,omitempty"`
	}
	ChangeMigrateData struct {
		// Task is the task moved, From the version it left.
		Task string `json:"task"`
		From int    `json:"from"`
	}
)

// Errors of the version calls.
var (
	// ErrInFlight refuses Retire of a version with tasks in flight,
	// unless forced.
	ErrInFlight = errors.New("store: the version has tasks in flight")
	// ErrRetired refuses SetCurrent to a retired version.
	ErrRetired = errors.New("store: the version is retired")
	// ErrIsCurrent refuses Retire of a program's current version.
	ErrIsCurrent = errors.New("store: the version is current")
)

// CheckVersion refuses a program name or version that no task could
// have: stores call it in SetCurrent, Retire and Migrate.
func CheckVersion(program string, version int) error {
	if program == "" {
		return errors.New("store: no program named")
	}
	if version < 0 {
		return fmt.Errorf("store: %s: negative version %d", program, version)
	}
	return nil
}
