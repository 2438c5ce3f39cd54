package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
	"github.com/spf13/cobra"
)

func (e *env) versionCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "version",
		Short: "List versions, set the current one, retire old ones, show the change log",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(e.versionListCmd(), e.versionSetCurrentCmd(), e.versionRetireCmd(), e.versionLogCmd())
	return c
}

// programVersion reads the arguments PROGRAM VERSION.
func programVersion(args []string) (string, int, error) {
	v, err := parseVersion(args[1])
	return args[0], v, err
}

// parseVersion reads a version argument.
func parseVersion(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	if err != nil || v < 0 {
		return 0, usagef("version %q: want a number (2 or v2)", s)
	}
	return v, nil
}

// versionJSON is a line of version list --json.
type versionJSON struct {
	Program  string              `json:"program"`
	Version  int                 `json:"version"`
	Current  bool                `json:"current"`
	Stored   bool                `json:"stored_current,omitempty"`
	Retired  bool                `json:"retired,omitempty"`
	Drain    store.Drain         `json:"drain"`
	InFlight map[task.Status]int `json:"in_flight"`
	Finished int                 `json:"finished"`
	Oldest   string              `json:"oldest,omitempty"`
	Since    *time.Time          `json:"oldest_created,omitempty"`
	Workers  []string            `json:"workers"`
	Here     bool                `json:"in_this_binary"`
}

func (e *env) versionListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list [PROGRAM]",
		Short: "Show each version: current or not, tasks in flight, the oldest, workers, drain state",
		Long: `version list shows, for each version of each program (or of PROGRAM):
whether it is current (new tasks start on it: the version stored by
set-current, or the highest known), its tasks in flight by status, the
oldest of them, the live workers that can run it (from their heartbeats),
and its drain state: active (current), draining (not current, tasks in
flight) or drained (none in flight).`,
		Example: `  amber version list
  amber version list renew --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: e.action(func(ctx context.Context, args []string) error {
			program := ""
			if len(args) == 1 {
				program = args[0]
			}
			return e.withStore(ctx, reads, func(s store.Store) error {
				vs, err := s.Versions(ctx, program)
				if err != nil {
					return err
				}
				if program != "" && len(vs) == 0 {
					if _, err := e.reg.Latest(program); err != nil {
						return fmt.Errorf("no version of program %q: no task runs it, no worker has it, and this binary does not register it", program)
					}
				}
				out := make([]versionJSON, len(vs))
				for i, v := range vs {
					_, err := e.reg.Program(v.Program, v.Version)
					out[i] = versionJSON{Program: v.Program, Version: v.Version, Current: v.Current, Stored: v.Stored,
						Retired: v.Retired, Drain: v.Drain, InFlight: v.InFlight, Finished: v.Finished, Oldest: v.Oldest,
						Since: timePtr(v.OldestCreated), Workers: v.Workers, Here: err == nil}
					if out[i].Workers == nil {
						out[i].Workers = []string{}
					}
				}
				return e.emit(out, func(w io.Writer) error {
					tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "PROGRAM\tVERSION\tCURRENT\tDRAIN\tIN FLIGHT\tOLDEST\tWORKERS")
					for _, v := range vs {
						cur := ""
						if v.Current {
							cur = "current"
							if !v.Stored {
								cur = "current (highest)"
							}
						}
						drain := string(v.Drain)
						if v.Retired {
							drain += ", retired"
						}
						oldest := "-"
						if v.Oldest != "" {
							oldest = v.Oldest + " (" + v.OldestCreated.UTC().Format(time.RFC3339) + ")"
						}
						workers := strings.Join(v.Workers, ",")
						if workers == "" {
							workers = "none live"
						}
						fmt.Fprintf(tw, "%s\tv%d\t%s\t%s\t%s\t%s\t%s\n", v.Program, v.Version, cur, drain, inFlight(v), oldest, workers)
					}
					return tw.Flush()
				})
			})
		}),
	}
}

// inFlight renders the counts of tasks in flight: "3 (2 waiting, 1 running)".
func inFlight(v store.VersionInfo) string {
	if v.Total() == 0 {
		return "0"
	}
	var parts []string
	for _, s := range []task.Status{task.Running, task.Waiting, task.Parked, task.Diverged} {
		if n := v.InFlight[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	return fmt.Sprintf("%d (%s)", v.Total(), strings.Join(parts, ", "))
}

// whoCan says which live workers have program at version, and which live
// workers run other versions of program without it.
func whoCan(ctx context.Context, s store.Store, program string, version int) (with, without []string, err error) {
	ws, err := s.Workers(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	for _, w := range ws {
		if !w.Live(now) {
			continue
		}
		switch {
		case w.Can(program, version):
			with = append(with, w.ID)
		case slices.ContainsFunc(w.Versions, func(pv task.ProgramVersion) bool { return pv.Program == program }):
			without = append(without, w.ID)
		}
	}
	return with, without, nil
}

func (e *env) versionSetCurrentCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "set-current PROGRAM VERSION",
		Short: "Make new tasks of PROGRAM start on VERSION (every worker follows without a restart)",
		Long: `set-current stores VERSION as the current version of PROGRAM: every worker
starts new tasks of PROGRAM on it from its next poll of the change log,
without a restart. Tasks in flight stay on their versions.

It is refused when neither this binary nor a live worker has VERSION, and
when live workers run PROGRAM without VERSION (deploy it to them first, or
give --force: the tasks they start then wait for a worker that has it).`,
		Example: `  amber version set-current renew 2`,
		Args:    cobra.ExactArgs(2),
		RunE: e.action(func(ctx context.Context, args []string) error {
			program, version, err := programVersion(args)
			if err != nil {
				return err
			}
			return e.withStore(ctx, writes, func(s store.Store) error {
				with, without, err := whoCan(ctx, s, program, version)
				if err != nil {
					return err
				}
				_, here := e.reg.Program(program, version)
				if here != nil && len(with) == 0 {
					return fmt.Errorf("%s v%d: unknown version: neither this binary nor a live worker has it (%w); nothing changed", program, version, here)
				}
				if len(without) > 0 && !force {
					return fmt.Errorf("%s v%d: only workers %s have it; live workers %s run %s without it (deploy it to them first, or --force); nothing changed",
						program, version, listOr(with, "none"), strings.Join(without, ", "), program)
				}
				if err := s.SetCurrent(ctx, program, version); err != nil {
					return err
				}
				return e.emit(map[string]any{"program": program, "current": version}, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "%s: new tasks start on v%d\n", program, version)
					return err
				})
			})
		}),
	}
	c.Flags().BoolVar(&force, "force", false, "set it even though live workers of the program do not have it")
	return c
}

func listOr(xs []string, none string) string {
	if len(xs) == 0 {
		return none
	}
	return strings.Join(xs, ", ")
}

func (e *env) versionRetireCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "retire PROGRAM VERSION",
		Short: "Mark a version retired (refused with tasks in flight unless --force)",
		Example: `  amber version retire renew 1
  amber version retire renew 1 --force`,
		Args: cobra.ExactArgs(2),
		RunE: e.action(func(ctx context.Context, args []string) error {
			program, version, err := programVersion(args)
			if err != nil {
				return err
			}
			return e.withStore(ctx, writes, func(s store.Store) error {
				err := s.Retire(ctx, program, version, force)
				switch {
				case errors.Is(err, store.ErrInFlight):
					return fmt.Errorf("%s v%d has tasks in flight: let them drain (amber version list %s), migrate them (deploy migrate), or --force; nothing changed: %w", program, version, program, err)
				case err != nil:
					return fmt.Errorf("%s v%d: %w; nothing changed", program, version, err)
				}
				return e.emit(map[string]any{"program": program, "retired": version}, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "%s v%d retired\n", program, version)
					return err
				})
			})
		}),
	}
	c.Flags().BoolVar(&force, "force", false, "retire it with tasks in flight")
	return c
}

// changeJSON is a line of version log --json.
type changeJSON struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Program string    `json:"program"`
	Version int       `json:"version"`
	Data    any       `json:"data,omitempty"`
}

func (e *env) versionLogCmd() *cobra.Command {
	var since uint64
	c := &cobra.Command{
		Use:     "log",
		Short:   "Show the change log: set-current, retire, migrate",
		Example: `  amber version log --since 10`,
		Args:    cobra.NoArgs,
		RunE: e.action(func(ctx context.Context, _ []string) error {
			return e.withStore(ctx, reads, func(s store.Store) error {
				cs, err := s.Changes(ctx, since)
				if err != nil {
					return err
				}
				out := make([]changeJSON, len(cs))
				for i, c := range cs {
					out[i] = changeJSON{Seq: c.Seq, At: c.At, Kind: c.Kind, Program: c.Program, Version: c.Version}
					if len(c.Data) > 0 {
						out[i].Data = c.Data
					}
				}
				return e.emit(out, func(w io.Writer) error {
					for _, c := range cs {
						fmt.Fprintln(w, c)
					}
					return nil
				})
			})
		}),
	}
	c.Flags().Uint64Var(&since, "since", 0, "only the changes after `SEQ`")
	return c
}
