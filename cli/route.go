package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/router"
	"github.com/amberrt/amber/store"
	"github.com/spf13/cobra"
)

// The route group: the routing table of package router, in the store.
// Functions are those this binary defines (router.Default).

func (e *env) routeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "route",
		Short: "Route calls of versioned functions: primary, percent, shadow, per-task overrides",
		Long: `route changes and shows the routing table of the store: which version of
a function (package router) runs each call. Workers follow a change within
one poll of their router, without a restart, and every change is recorded
(route history). The functions and versions are those this binary defines:
build your own amber command with cli.Main to route yours.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(e.routeSetCmd(), e.routeShowCmd(), e.routeListCmd(), e.routeDivergencesCmd(), e.routeHistoryCmd())
	return c
}

// routeStore returns st's routing table.
func routeStore(st store.Store) (*router.StoreTable, error) {
	return router.NewStoreTable(st)
}

// function returns the function name of this binary, or a usage error.
func function(name string) (router.AnyFunction, error) {
	fn, ok := router.Default.Lookup(name)
	if !ok {
		known := router.Default.Names()
		if len(known) == 0 {
			return nil, usageError{fmt.Errorf("%w %q: this binary defines no functions (build your own amber command with cli.Main)", router.ErrUnknownFunction, name)}
		}
		return nil, usageError{fmt.Errorf("%w %q (this binary defines %s)", router.ErrUnknownFunction, name, strings.Join(known, ", "))}
	}
	return fn, nil
}

// policyJSON is route show --json.
type policyJSON struct {
	Function   string         `json:"function"`
	Policy     *router.Policy `json:"policy,omitempty"`
	Seq        uint64         `json:"seq,omitempty"`
	Versions   []string       `json:"versions,omitempty"`
	Default    string         `json:"default"`
	Unroutable []string       `json:"unroutable,omitempty"`
	Divergent  int            `json:"divergences"`
	Noise      int            `json:"noise"`
}

func (e *env) routeSetCmd() *cobra.Command {
	var (
		primary, candidate, taskID, version, why string
		percent                                  []string
		shadow, noShadow, force, clearTask       bool
		sampling                                 float64
	)
	c := &cobra.Command{
		Use:   "set FUNCTION",
		Short: "Change a function's route",
		Long: `set changes the route of FUNCTION; what the flags do not name stays as it
was. A first route starts from the function's default version (its first
registered) as primary.

  --primary V              V serves every call nothing else claims
  --percent V=P            P % of tasks (sticky by task ID) to V; P=0 removes
  --shadow --candidate V   run V beside the primary in a sandbox and record
                           divergences (--sampling: fraction of calls, 1)
  --no-shadow              stop shadowing
  --task ID --version V    task ID's calls run V (replay honours it too)
  --task ID --clear        remove task ID's override

A version this binary does not have is refused unless --force (calls routed
to it then fail, and route show lists it as unroutable). Nothing changes
when the command fails.`,
		Example: `  amber route set lookupUser --shadow --primary 1 --candidate 2
  amber route set lookupUser --percent 2=10
  amber route set lookupUser --primary 2
  amber route set lookupUser --task abc123 --version debug`,
		Args: exactArgs(1),
		RunE: e.action(func(ctx context.Context, args []string) error {
			fn, err := function(args[0])
			if err != nil {
				return err
			}
			flags := 0
			for _, set := range []bool{primary != "", len(percent) > 0, shadow, noShadow, taskID != ""} {
				if set {
					flags++
				}
			}
			switch {
			case flags == 0:
				return usagef("route set: say what to change (--primary, --percent, --shadow, --no-shadow, --task)")
			case shadow && noShadow:
				return usagef("route set: --shadow and --no-shadow")
			case shadow && candidate == "":
				return usagef("route set: --shadow needs --candidate")
			case candidate != "" && !shadow:
				return usagef("route set: --candidate needs --shadow")
			case taskID != "" && (version == "") == !clearTask:
				return usagef("route set: --task needs --version V or --clear")
			case taskID == "" && (version != "" || clearTask):
				return usagef("route set: --version and --clear go with --task")
			}
			pcts := map[string]int{}
			for _, p := range percent {
				v, n, ok := strings.Cut(p, "=")
				pct, err := strconv.Atoi(n)
				if !ok || v == "" || err != nil {
					return usagef("route set: --percent %q is not VERSION=PERCENT", p)
				}
				pcts[v] = pct
			}
			return e.withStore(ctx, writes, func(st store.Store) error {
				table, err := routeStore(st)
				if err != nil {
					return err
				}
				if taskID != "" {
					if _, err := st.Status(ctx, taskID); errors.Is(err, store.ErrNotFound) {
						return usagef("route set: no task %q in the store", taskID)
					} else if err != nil {
						return err
					}
				}
				p, seq, ok, err := table.Get(ctx, fn.Name())
				if err != nil {
					return err
				}
				if !ok {
					p.Primary = fn.Default()
				}
				p = clonePolicy(p)
				if primary != "" {
					p.Primary = primary
				}
				for v, pct := range pcts {
					if pct == 0 {
						delete(p.Percent, v)
						continue
					}
					if p.Percent == nil {
						p.Percent = map[string]int{}
					}
					p.Percent[v] = pct
				}
				if shadow {
					p.Shadow = &router.Shadow{Candidate: candidate, Sampling: sampling}
				}
				if noShadow {
					p.Shadow = nil
				}
				if taskID != "" {
					if clearTask {
						delete(p.Tasks, taskID)
					} else {
						if p.Tasks == nil {
							p.Tasks = map[string]string{}
						}
						p.Tasks[taskID] = version
					}
				}
				p.Force = force
				if err := p.Validate(fn); err != nil {
					return usageError{err}
				}
				ch, err := table.Set(ctx, fn, p, seq, who(), why)
				if err != nil {
					return err
				}
				return e.emit(policyJSON{Function: fn.Name(), Policy: &p, Seq: ch.Seq, Versions: fn.Versions(), Unroutable: p.Unroutable(fn)},
					func(w io.Writer) error {
						fmt.Fprintf(w, "route of %s changed (change %d):\n", fn.Name(), ch.Seq)
						writePolicy(w, fn, p)
						return nil
					})
			})
		}),
	}
	f := c.Flags()
	f.StringVar(&primary, "primary", "", "the primary `version`")
	f.StringSliceVar(&percent, "percent", nil, "`VERSION=PERCENT` of tasks to a version (repeatable; 0 removes)")
	f.BoolVar(&shadow, "shadow", false, "shadow the primary with --candidate")
	f.StringVar(&candidate, "candidate", "", "the shadow candidate `version`")
	f.Float64Var(&sampling, "sampling", 1, "with --shadow: the `fraction` of calls shadowed, in (0, 1]")
	f.BoolVar(&noShadow, "no-shadow", false, "stop shadowing")
	f.StringVar(&taskID, "task", "", "a task `ID` to override")
	f.StringVar(&version, "version", "", "with --task: the `version` its calls run")
	f.BoolVar(&clearTask, "clear", false, "with --task: remove its override")
	f.BoolVar(&force, "force", false, "accept versions this binary does not have")
	f.StringVar(&why, "why", "", "a note for the route history")
	return c
}

func clonePolicy(p router.Policy) router.Policy {
	p.Percent = maps.Clone(p.Percent)
	p.Tasks = maps.Clone(p.Tasks)
	if p.Shadow != nil {
		s := *p.Shadow
		p.Shadow = &s
	}
	return p
}

func who() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

func writePolicy(w io.Writer, fn router.AnyFunction, p router.Policy) {
	fmt.Fprintf(w, "  primary   %s\n", p.Primary)
	for _, v := range slices.Sorted(maps.Keys(p.Percent)) {
		fmt.Fprintf(w, "  percent   %s=%d%%\n", v, p.Percent[v])
	}
	if p.Shadow != nil {
		fmt.Fprintf(w, "  shadow    candidate %s, sampling %g\n", p.Shadow.Candidate, p.Shadow.Sampling)
	}
	for _, id := range slices.Sorted(maps.Keys(p.Tasks)) {
		fmt.Fprintf(w, "  task      %s -> %s\n", id, p.Tasks[id])
	}
	if fn != nil {
		if u := p.Unroutable(fn); len(u) > 0 {
			fmt.Fprintf(w, "  UNROUTABLE: this binary has no version %s of %s (calls routed there fail)\n", strings.Join(u, ", "), fn.Name())
		}
	}
}

func (e *env) routeShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show FUNCTION",
		Short: "Show a function's route, its versions and its divergence counts",
		Args:  exactArgs(1),
		RunE: e.action(func(ctx context.Context, args []string) error {
			fn, err := function(args[0])
			if err != nil {
				return err
			}
			return e.withStore(ctx, reads, func(st store.Store) error {
				out, err := e.policyOf(ctx, st, fn)
				if err != nil {
					return err
				}
				return e.emit(out, func(w io.Writer) error {
					fmt.Fprintf(w, "%s: versions %s\n", fn.Name(), strings.Join(out.Versions, ", "))
					if out.Policy == nil {
						fmt.Fprintf(w, "  no route: calls run version %s\n", fn.Default())
					} else {
						writePolicy(w, fn, *out.Policy)
					}
					fmt.Fprintf(w, "  divergences %d (noise %d)\n", out.Divergent, out.Noise)
					return nil
				})
			})
		}),
	}
}

func (e *env) policyOf(ctx context.Context, st store.Store, fn router.AnyFunction) (policyJSON, error) {
	out := policyJSON{Function: fn.Name(), Versions: fn.Versions(), Default: fn.Default()}
	table, err := routeStore(st)
	if err != nil {
		return out, err
	}
	p, seq, ok, err := table.Get(ctx, fn.Name())
	if err != nil {
		return out, err
	}
	if ok {
		out.Policy, out.Seq, out.Unroutable = &p, seq, p.Unroutable(fn)
	}
	_, out.Divergent, out.Noise, err = table.S.Divergences(ctx, fn.Name(), 0)
	return out, err
}

func (e *env) routeListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the functions of this binary and their routes",
		Args:  cobra.NoArgs,
		RunE: e.action(func(ctx context.Context, _ []string) error {
			return e.withStore(ctx, reads, func(st store.Store) error {
				var out []policyJSON
				for _, name := range router.Default.Names() {
					fn, _ := router.Default.Lookup(name)
					p, err := e.policyOf(ctx, st, fn)
					if err != nil {
						return err
					}
					out = append(out, p)
				}
				return e.emit(out, func(w io.Writer) error {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "FUNCTION\tVERSIONS\tPRIMARY\tPERCENT\tSHADOW\tTASKS\tDIVERGENCES")
					for _, p := range out {
						primary, pct, shadow, tasks := p.Default+" (default)", "-", "-", "-"
						if pol := p.Policy; pol != nil {
							primary = pol.Primary
							if len(pol.Percent) > 0 {
								var parts []string
								for _, v := range slices.Sorted(maps.Keys(pol.Percent)) {
									parts = append(parts, fmt.Sprintf("%s=%d", v, pol.Percent[v]))
								}
								pct = strings.Join(parts, ",")
							}
							if pol.Shadow != nil {
								shadow = fmt.Sprintf("%s@%g", pol.Shadow.Candidate, pol.Shadow.Sampling)
							}
							if len(pol.Tasks) > 0 {
								tasks = strconv.Itoa(len(pol.Tasks))
							}
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", p.Function, strings.Join(p.Versions, ","), primary, pct, shadow, tasks, p.Divergent)
					}
					return tw.Flush()
				})
			})
		}),
	}
}

// divergencesJSON is route divergences --json.
type divergencesJSON struct {
	Function    string              `json:"function"`
	Total       int                 `json:"total"`
	Noise       int                 `json:"noise"`
	Divergences []router.Divergence `json:"divergences"`
}

func (e *env) routeDivergencesCmd() *cobra.Command {
	var limit int
	c := &cobra.Command{
		Use:   "divergences FUNCTION",
		Short: "Count a function's shadow divergences and show the first few, both sides rendered",
		Args:  exactArgs(1),
		RunE: e.action(func(ctx context.Context, args []string) error {
			if limit < 0 {
				return usagef("--limit must not be negative")
			}
			return e.withStore(ctx, reads, func(st store.Store) error {
				table, err := routeStore(st)
				if err != nil {
					return err
				}
				ds, total, noise, err := router.StoredDivergences(ctx, table.S, args[0], limit)
				if err != nil {
					return err
				}
				out := divergencesJSON{Function: args[0], Total: total, Noise: noise, Divergences: ds}
				return e.emit(out, func(w io.Writer) error {
					fmt.Fprintf(w, "%s: %d divergent calls (%d of them noise: the primary did not reproduce itself)\n", args[0], total, noise)
					for _, d := range ds {
						tag := ""
						if d.Noise {
							tag = " [noise]"
						}
						fmt.Fprintf(w, "\ntask %s, %s, v%s vs v%s%s\n", d.Task, d.At.Format("2006-01-02 15:04:05"), d.Primary, d.Candidate, tag)
						fmt.Fprintf(w, "  primary   (v%s): %s\n", d.Primary, d.PrimaryOutput)
						fmt.Fprintf(w, "  candidate (v%s): %s\n", d.Candidate, d.CandidateOutput)
						if d.FirstDiff >= 0 {
							fmt.Fprintf(w, "  first differing op: #%d\n", d.FirstDiff+1)
						}
						writeTrace(w, "primary", d.PrimaryTrace, d.FirstDiff)
						writeTrace(w, "candidate", d.CandidateTrace, d.FirstDiff)
					}
					return nil
				})
			})
		}),
	}
	c.Flags().IntVar(&limit, "limit", 5, "show the first `N` divergences")
	return c
}

func writeTrace(w io.Writer, side string, ops []string, diff int) {
	fmt.Fprintf(w, "  %s ops:\n", side)
	for i, op := range ops {
		mark := " "
		if i == diff {
			mark = ">"
		}
		fmt.Fprintf(w, "   %s %d. %s\n", mark, i+1, op)
	}
}

// routeChangeJSON is one change of route history --json.
type routeChangeJSON struct {
	Seq      uint64 `json:"seq"`
	At       string `json:"at"`
	Who      string `json:"who"`
	Why      string `json:"why,omitempty"`
	Function string `json:"function"`
	Old      string `json:"old,omitempty"`
	New      string `json:"new,omitempty"`
}

func (e *env) routeHistoryCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "history [FUNCTION]",
		Short: "List the changes of a function's route (every function's without one)",
		Args:  cobra.MaximumNArgs(1),
		RunE: e.action(func(ctx context.Context, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return e.withStore(ctx, reads, func(st store.Store) error {
				table, err := routeStore(st)
				if err != nil {
					return err
				}
				hist, err := table.S.RouteHistory(ctx, name)
				if err != nil {
					return err
				}
				out := make([]routeChangeJSON, 0, len(hist))
				for _, c := range hist {
					out = append(out, routeChangeJSON{Seq: c.Seq, At: c.At.Format("2006-01-02 15:04:05"), Who: c.Who, Why: c.Why,
						Function: c.Function, Old: string(c.Old), New: string(c.Policy)})
				}
				return e.emit(out, func(w io.Writer) error {
					for _, c := range out {
						fmt.Fprintf(w, "#%d %s by %s: %s\n", c.Seq, c.At, c.Who, c.Function)
						if c.Why != "" {
							fmt.Fprintf(w, "   why: %s\n", c.Why)
						}
						fmt.Fprintf(w, "   old: %s\n   new: %s\n", orNone(c.Old), orNone(c.New))
					}
					return nil
				})
			})
		}),
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// taskRoutes returns the replay options that honour the per-task
// overrides of task id in st's routing table (none if st keeps no
// routes), and what they swap, for the report.
func taskRoutes(ctx context.Context, st store.Store, id string) ([]interp.ReplayOption, []string, error) {
	rs, ok := st.(store.RouteStore)
	if !ok {
		return nil, nil, nil
	}
	// The policies the workers follow (a row that does not decode is
	// skipped, as they skip it).
	ps, err := (&router.StoreTable{S: rs}).Policies(ctx)
	if err != nil {
		return nil, nil, err
	}
	var opts []interp.ReplayOption
	var swaps []string
	for _, fn := range slices.Sorted(maps.Keys(ps)) {
		if v, ok := ps[fn].Tasks[id]; ok {
			opts = append(opts, interp.WithRoute(fn, v))
			swaps = append(swaps, fn+"="+v)
		}
	}
	return opts, swaps, nil
}
