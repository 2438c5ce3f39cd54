package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/spf13/cobra"
)

func (e *env) deployCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "deploy",
		Short: "Check in-flight tasks against a new version, and migrate those that fit",
		Long: `deploy works with the versions this binary registers: build it with
cli.Main and the registry holding your new code.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(e.deployCheckCmd(), e.deployMigrateCmd())
	return c
}

// checkJSON is a task's line of deploy check --json and deploy migrate
// --json.
type checkJSON struct {
	Task       string          `json:"task"`
	From       int             `json:"from"`
	To         int             `json:"to"`
	Entries    int             `json:"entries"`
	Fits       bool            `json:"fits"`
	Divergence *divergenceJSON `json:"divergence,omitempty"`
	Unpatched  []string        `json:"unpatched,omitempty"`
	Error      string          `json:"error,omitempty"`
	Moved      *bool           `json:"moved,omitempty"`
	Skipped    string          `json:"skipped,omitempty"`
}

// deployJSON is deploy check --json and deploy migrate --json.
type deployJSON struct {
	Program  string      `json:"program"`
	From     *int        `json:"from,omitempty"`
	To       int         `json:"to"`
	Tasks    []checkJSON `json:"tasks"`
	Fit      int         `json:"fit"`
	Diverge  int         `json:"diverge"`
	Errors   int         `json:"errors"`
	Moved    *int        `json:"moved,omitempty"`
	Skipped  *int        `json:"skipped,omitempty"`
	Duration string      `json:"-"`
}

func checkToJSON(c interp.Check) checkJSON {
	out := checkJSON{Task: c.Task, From: c.From, To: c.To, Entries: c.Entries, Fits: c.Fits, Unpatched: c.Unpatched}
	if d := c.Divergence; d != nil {
		out.Divergence = &divergenceJSON{Seq: d.Seq, Fiber: d.Fiber, Recorded: d.Recorded, Issued: d.Issued}
	}
	if c.Err != nil {
		out.Error = c.Err.Error()
	}
	return out
}

// verdict renders a check for the table.
func verdict(c checkJSON) string {
	switch {
	case c.Error != "":
		return "error: " + c.Error
	case c.Divergence != nil:
		return fmt.Sprintf("diverges at seq %d (fiber %d): recorded %s, issued %s", c.Divergence.Seq, c.Divergence.Fiber,
			c.Divergence.Recorded, c.Divergence.Issued)
	}
	s := "fits"
	if len(c.Unpatched) > 0 {
		s += " (old branch of patches " + strings.Join(c.Unpatched, ", ") + ")"
	}
	return s
}

// needVersion checks that this binary registers program at version: a
// deploy works with the new code, which only the user's binary has.
func (e *env) needVersion(program string, version int) error {
	if _, err := e.reg.Program(program, version); err != nil {
		if _, none := e.reg.Latest(program); none != nil {
			return usagef("program %q: this binary does not register it (build your own amber command with cli.Main and your registry)", program)
		}
		return usagef("%s v%d: unknown version: this binary does not register it (it has %s)", program, version, e.versionsOf(program))
	}
	return nil
}

// versionsOf lists the versions of program this binary registers.
func (e *env) versionsOf(program string) string {
	var vs []string
	for _, pv := range e.reg.Versions() {
		if pv.Program == program {
			vs = append(vs, fmt.Sprintf("v%d", pv.Version))
		}
	}
	return strings.Join(vs, ", ")
}

func (e *env) deployCheckCmd() *cobra.Command {
	var to, from int
	c := &cobra.Command{
		Use:   "check PROGRAM --to VERSION",
		Short: "Replay every in-flight task of PROGRAM against VERSION, touching nothing",
		Long: `deploy check replays the journal of every in-flight task of PROGRAM (on a
version other than VERSION, or on --from only) against VERSION of this
binary's registry, and says of each whether it fits (replays to its end)
or diverges, at which sequence number, with the op recorded and the op
issued. It changes nothing. It exits with 3 if a task diverges, 1 if a
task could not be checked (a corrupt journal: the error names the task).`,
		Example: `  myamber deploy check renew --to 2
  myamber deploy check renew --to 2 --json`,
		Args: cobra.ExactArgs(1),
		RunE: e.action(func(ctx context.Context, args []string) error {
			program := args[0]
			if to < 0 {
				return usagef("--to: give the version to check against")
			}
			if err := e.needVersion(program, to); err != nil {
				return err
			}
			return e.withStore(ctx, reads, func(s store.Store) error {
				return e.deploy(ctx, s, program, from, to, false)
			})
		}),
	}
	c.Flags().IntVar(&to, "to", -1, "the `version` to check against (required)")
	c.Flags().IntVar(&from, "from", interp.Any, "only the tasks on this `version` (default: every version but --to)")
	return c
}

func (e *env) deployMigrateCmd() *cobra.Command {
	var to, from int
	c := &cobra.Command{
		Use:   "migrate PROGRAM --from VERSION --to VERSION",
		Short: "Move the in-flight tasks whose journals fit the new version; the others drain",
		Long: `deploy migrate moves every in-flight task of PROGRAM on --from whose
journal replays cleanly under --to, each checked again under its lease at
the moment it moves (a task that took a step meanwhile is checked as it is
then), and records the move in the task (task show) and the change log
(version log). The tasks that do not fit stay on --from to drain; a task
a worker is running is skipped (run migrate again).

On SQLite, only the worker process claims tasks: stop the worker first (its
lock is refused otherwise). On PostgreSQL, migrate beside the workers.`,
		Example: `  myamber deploy migrate renew --from 1 --to 2`,
		Args:    cobra.ExactArgs(1),
		RunE: e.action(func(ctx context.Context, args []string) error {
			program := args[0]
			if to < 0 || from < 0 {
				return usagef("give both --from and --to")
			}
			if from == to {
				return usagef("--from and --to are both v%d", to)
			}
			if err := e.needVersion(program, to); err != nil {
				return err
			}
			return e.withStore(ctx, claims, func(s store.Store) error {
				vs, err := s.Versions(ctx, program)
				if err != nil {
					return err
				}
				known := false
				for _, v := range vs {
					known = known || v.Version == from && v.Total() > 0
				}
				if !known {
					return fmt.Errorf("%s v%d: no task in flight on that version (amber version list %s); nothing changed", program, from, program)
				}
				with, _, err := whoCan(ctx, s, program, to)
				if err != nil {
					return err
				}
				if len(with) == 0 && e.pg != "" {
					fmt.Fprintf(e.stderr, "amber: warning: no live worker has %s v%d: the moved tasks wait for one\n", program, to)
				}
				return e.deploy(ctx, s, program, from, to, true)
			})
		}),
	}
	c.Flags().IntVar(&to, "to", -1, "the `version` to move to (required)")
	c.Flags().IntVar(&from, "from", -1, "the `version` to move from (required)")
	return c
}

// deploy checks (migrate false) or migrates the tasks of program on from
// (interp.Any: every version but to) to version to, and reports.
func (e *env) deploy(ctx context.Context, s store.Store, program string, from, to int, migrate bool) error {
	total, err := e.movable(ctx, s, program, from, to)
	if err != nil {
		return err
	}
	verb := "checked"
	if migrate {
		verb = "migrated"
	}
	p := e.progress(total, verb, "tasks")
	out := deployJSON{Program: program, To: to, Tasks: []checkJSON{}}
	if from != interp.Any {
		out.From = &from
	}
	moved, skipped := 0, 0
	add := func(c checkJSON) {
		switch {
		case c.Error != "":
			out.Errors++
		case c.Fits:
			out.Fit++
		default:
			out.Diverge++
		}
		out.Tasks = append(out.Tasks, c)
		p.add(1)
	}
	m := interp.NewMigrator(s, e.reg, interp.MigratorOptions{})
	if migrate {
		err = m.Migrate(ctx, program, from, to, func(mv interp.Move) {
			c := checkToJSON(mv.Check)
			c.Moved, c.Skipped = &mv.Moved, mv.Skipped
			if mv.Moved {
				moved++
			} else if mv.Skipped != "" {
				skipped++
			}
			add(c)
		})
		out.Moved, out.Skipped = &moved, &skipped
	} else {
		err = m.CheckAll(ctx, program, from, to, func(c interp.Check) { add(checkToJSON(c)) })
	}
	p.finish()
	if err != nil {
		return err
	}
	err = e.emit(out, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		head := "TASK\tFROM\tENTRIES\tVERDICT"
		if migrate {
			head += "\tMOVED"
		}
		fmt.Fprintln(tw, head)
		for _, c := range out.Tasks {
			line := fmt.Sprintf("%s\tv%d\t%d\t%s", c.Task, c.From, c.Entries, verdict(c))
			if migrate {
				switch {
				case *c.Moved:
					line += fmt.Sprintf("\tmoved to v%d", to)
				case c.Skipped != "":
					line += "\tskipped: " + c.Skipped
				default:
					line += "\tstays (drains)"
				}
			}
			fmt.Fprintln(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s v%d: %d tasks: %d fit, %d diverge, %d errors", program, to, len(out.Tasks), out.Fit, out.Diverge, out.Errors)
		if migrate {
			fmt.Fprintf(w, "; %d moved, %d skipped", moved, skipped)
		}
		fmt.Fprintln(w)
		return nil
	})
	if err != nil {
		return err
	}
	if out.Errors > 0 {
		for _, c := range out.Tasks {
			if c.Error != "" {
				return fmt.Errorf("%s: %d of %d tasks could not be checked against v%d; the first: %s", program, out.Errors, len(out.Tasks), to, c.Error)
			}
		}
	}
	if out.Diverge > 0 && !migrate {
		return divergedError{fmt.Errorf("%s: %d of %d tasks do not fit v%d", program, out.Diverge, len(out.Tasks), to)}
	}
	return nil
}

// movable counts the tasks in flight that deploy checks or migrates: those
// on from (interp.Any: on any version but to), for its progress meter.
func (e *env) movable(ctx context.Context, s store.Store, program string, from, to int) (int, error) {
	inFlight := func(version int) (int, error) {
		counts, err := s.Counts(ctx, store.Filter{Program: program, Version: version})
		n := 0
		for st, c := range counts {
			if !st.Final() {
				n += c
			}
		}
		return n, err
	}
	if from != interp.Any {
		return inFlight(from)
	}
	all, err := inFlight(0) // 0: every version
	if err != nil {
		return 0, err
	}
	onTo, err := inFlight(to)
	return all - onTo, err
}

// divergedError is a deploy check that found tasks that do not fit:
// exit code 3.
type divergedError struct{ error }

// claims is the access of deploy migrate: it claims tasks, which on
// SQLite only the worker process does.
const claims access = writes + 1

// openClaims opens the store to claim tasks: a SQLite file as its worker
// (its lock is refused while a worker runs).
func (e *env) openClaims() (store.Store, error) {
	if _, err := os.Stat(e.db); err != nil {
		return nil, fmt.Errorf("no amber store at %s: %w", e.db, err)
	}
	st, err := sqlite.Open(e.db, nil)
	if err != nil {
		return nil, fmt.Errorf("%w (deploy migrate claims tasks, which on SQLite only the worker process does: stop the worker, or migrate from it with interp.Migrator)", err)
	}
	return st, nil
}
