package inspect

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/amberrt/amber/task"
)

// VersionSource is what the versions page reads: the versions of each
// program as the store knows them (current, drain state, tasks in flight,
// the workers that can run them) and the log of version changes. A store
// that keeps versions provides one (Options.Versions); without one, the
// page shows the versions this binary registers and says that the
// store's are not available.
type VersionSource interface {
	// ProgramVersions returns every version the store knows, ordered by
	// program and version.
	ProgramVersions(ctx context.Context) ([]ProgramVersion, error)
	// VersionChanges returns the last limit changes (current versions
	// set, versions retired, tasks migrated), newest first.
	VersionChanges(ctx context.Context, limit int) ([]VersionChange, error)
}

// ProgramVersion is one version of one program, as a VersionSource
// reports it.
type ProgramVersion struct {
	// Program and Version name the version.
	Program string
	Version int
	// Current reports that new tasks start on it; Retired that it was
	// retired.
	Current, Retired bool
	// InFlight counts its unfinished tasks by status; Finished the others.
	InFlight map[task.Status]int
	Finished int
	// Drain is its drain state: active, draining or drained.
	Drain string
	// Oldest is its oldest unfinished task ("" for none).
	Oldest string
	// Workers are the live workers that can run it.
	Workers []string
}

// VersionChange is an entry of the log of version changes.
type VersionChange struct {
	// Seq numbers the change, At is when it was made.
	Seq uint64
	At  time.Time
	// Kind says what changed (set-current, retire, migrate, ...), of
	// which version of which program; Detail says more, if anything.
	Kind, Program string
	Version       int
	Detail        string
}

// versionsView is the versions page.
type versionsView struct {
	Available bool
	Problem   string
	Programs  []programVersions
	Changes   []VersionChange
}

type programVersions struct {
	Program  string
	Versions []versionRow
}

type versionRow struct {
	ProgramVersion
	InFlightTotal int
	InFlightWords string
	Registered    bool // this binary has it
	TasksURL      string
}

// changeLimit is how many changes the versions and routes pages show.
const changeLimit = 50

func (s *Server) versionsPage(w http.ResponseWriter, r *http.Request) {
	v := &versionsView{}
	byProgram := map[string]map[int]*versionRow{}
	row := func(program string, version int) *versionRow {
		if byProgram[program] == nil {
			byProgram[program] = map[int]*versionRow{}
		}
		vr := byProgram[program][version]
		if vr == nil {
			vr = &versionRow{ProgramVersion: ProgramVersion{Program: program, Version: version}}
			byProgram[program][version] = vr
		}
		return vr
	}
	for _, p := range s.reg.Programs() {
		row(p.ProgramName(), p.ProgramVersion()).Registered = true
	}
	if src := s.o.Versions; src != nil {
		v.Available = true
		pvs, err := src.ProgramVersions(r.Context())
		if err == nil {
			var changes []VersionChange
			changes, err = src.VersionChanges(r.Context(), changeLimit)
			v.Changes = changes
		}
		if err != nil {
			s.o.Logger.Error("inspect: reading versions", "err", err)
			v.Problem = "The store's versions could not be read: " + err.Error()
		}
		for _, pv := range pvs {
			vr := row(pv.Program, pv.Version)
			reg := vr.Registered
			vr.ProgramVersion, vr.Registered = pv, reg
		}
	}
	programs := make([]string, 0, len(byProgram))
	for p := range byProgram {
		programs = append(programs, p)
	}
	slices.Sort(programs)
	for _, p := range programs {
		pv := programVersions{Program: p}
		for _, vr := range byProgram[p] {
			for _, st := range statuses {
				if n := vr.InFlight[st]; n > 0 {
					vr.InFlightTotal += n
					if vr.InFlightWords != "" {
						vr.InFlightWords += ", "
					}
					vr.InFlightWords += strconv.Itoa(n) + " " + string(st)
				}
			}
			vr.TasksURL = "/tasks?program=" + url.QueryEscape(p) + "&version=" + strconv.Itoa(vr.Version)
			pv.Versions = append(pv.Versions, *vr)
		}
		slices.SortFunc(pv.Versions, func(a, b versionRow) int { return a.Version - b.Version })
		v.Programs = append(v.Programs, pv)
	}
	s.render(w, r, http.StatusOK, "versions", page{Title: "Versions", Active: "Versions", Data: v})
}
