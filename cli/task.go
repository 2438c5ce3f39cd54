package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/amberrt/amber/inspect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
	"github.com/spf13/cobra"
)

func (e *env) taskCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "task",
		Short: "List, show, replay, message and cancel tasks",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(e.taskListCmd(), e.taskShowCmd(), e.taskReplayCmd(), e.taskSendCmd(), e.taskCancelCmd())
	return c
}

// parseStatus checks a --status flag: a status no task can have is a
// mistake, not an empty list.
func parseStatus(s string) (task.Status, error) {
	st := task.Status(s)
	if s != "" && !st.Known() {
		var known []string
		for _, k := range []task.Status{task.Running, task.Waiting, task.Done, task.Failed, task.Cancelled, task.Parked, "diverged"} {
			if k.Known() {
				known = append(known, string(k))
			}
		}
		return "", usagef("--status %q: not a task status (want one of %s)", s, strings.Join(known, ", "))
	}
	return st, nil
}

// summaryJSON is a line of task list --json.
type summaryJSON struct {
	ID       string      `json:"id"`
	Program  string      `json:"program"`
	Version  int         `json:"version"`
	Status   task.Status `json:"status"`
	Reason   string      `json:"reason,omitempty"`
	WaitsFor string      `json:"waits_for,omitempty"`
	Wait     *waitJSON   `json:"wait,omitempty"`
	Steps    uint64      `json:"steps"`
	Entries  int         `json:"entries"`
	Mailbox  int         `json:"mailbox"`
	RunAt    *time.Time  `json:"run_at,omitempty"`
	Created  *time.Time  `json:"created,omitempty"`
	Updated  *time.Time  `json:"updated,omitempty"`
}

type waitJSON struct {
	Kind   string        `json:"kind,omitempty"`
	Until  *time.Time    `json:"until,omitempty"`
	Types  []string      `json:"types,omitempty"`
	Detail string        `json:"detail,omitempty"`
	Ops    []opStateJSON `json:"ops,omitempty"`
}

type opStateJSON struct {
	Fiber   uint32     `json:"fiber"`
	Kind    string     `json:"kind,omitempty"`
	Phase   string     `json:"phase,omitempty"`
	Attempt int        `json:"attempt,omitempty"`
	Started *time.Time `json:"started,omitempty"`
	Until   *time.Time `json:"until,omitempty"`
}

// timePtr leaves the zero time out of JSON.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func waitToJSON(w *task.Wait) *waitJSON {
	if w == nil {
		return nil
	}
	out := &waitJSON{Kind: w.Kind, Until: timePtr(w.Until), Types: w.Types, Detail: w.Detail}
	for _, o := range w.Ops {
		out.Ops = append(out.Ops, opStateJSON{Fiber: o.Fiber, Kind: o.Kind, Phase: o.Phase, Attempt: o.Attempt,
			Started: timePtr(o.Started), Until: timePtr(o.Until)})
	}
	return out
}

func (e *env) taskListCmd() *cobra.Command {
	var (
		status, program string
		version, limit  int
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List tasks, by ID",
		Example: `  amber task list --status waiting
  amber task list --program renew --json`,
		Args: cobra.NoArgs,
		RunE: e.action(func(ctx context.Context, _ []string) error {
			st, err := parseStatus(status)
			if err != nil {
				return err
			}
			if limit < 0 || version < 0 {
				return usagef("--limit and --version must not be negative")
			}
			return e.withStore(ctx, reads, func(s store.Store) error {
				return e.list(ctx, s, st, program, version, limit)
			})
		}),
	}
	f := c.Flags()
	f.StringVar(&status, "status", "", "only tasks with this `status` (running, waiting, done, failed, cancelled, parked)")
	f.StringVar(&program, "program", "", "only tasks of this `program`")
	f.IntVar(&version, "version", 0, "only tasks on this `version` of their program")
	f.IntVar(&limit, "limit", 0, "at most `N` tasks (0: all)")
	return c
}

func (e *env) list(ctx context.Context, s store.Store, status task.Status, program string, version, limit int) error {
	// The version filter and its limit are applied here until the store
	// filters by version.
	f := store.Filter{Status: status, Program: program, Limit: limit}
	if version > 0 {
		f.Limit = 0
	}
	all, err := s.List(ctx, f)
	if err != nil {
		return err
	}
	var tasks []store.Summary
	for _, t := range all {
		if version > 0 && t.Version != version {
			continue
		}
		if limit > 0 && len(tasks) == limit {
			break
		}
		tasks = append(tasks, t)
	}
	out := make([]summaryJSON, len(tasks))
	for i, t := range tasks {
		out[i] = summaryJSON{ID: t.ID, Program: t.Program, Version: t.Version, Status: t.Status, Reason: t.Reason,
			WaitsFor: inspect.WaitSummary(t.Wait, ""), Wait: waitToJSON(t.Wait), Steps: t.Steps, Entries: t.Entries,
			Mailbox: t.Pending, RunAt: timePtr(t.RunAt), Created: timePtr(t.Created), Updated: timePtr(t.Updated)}
	}
	return e.emit(out, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROGRAM\tSTATUS\tSTEPS\tENTRIES\tMAILBOX\tWAITS FOR\tUPDATED")
		for _, s := range tasks {
			// One line per task: a divergence's reason goes on to show
			// both ops (task show prints them).
			waits, _, _ := strings.Cut(inspect.WaitSummary(s.Wait, s.Reason), "\n")
			if waits == "" {
				waits = "-"
			}
			fmt.Fprintf(tw, "%s\t%s@v%d\t%s\t%d\t%d\t%d\t%s\t%s\n", s.ID, s.Program, s.Version, s.Status, s.Steps,
				s.Entries, s.Pending, waits, s.Updated.Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

// recordJSON is task show --json. CBOR values are in diagnostic notation.
type recordJSON struct {
	ID      string        `json:"id"`
	Program string        `json:"program"`
	Version int           `json:"version"`
	Status  task.Status   `json:"status"`
	Reason  string        `json:"reason,omitempty"`
	Parent  string        `json:"parent,omitempty"`
	Name    string        `json:"name,omitempty"`
	Input   string        `json:"input"`
	Wait    *waitJSON     `json:"wait,omitempty"`
	Result  string        `json:"result,omitempty"`
	Error   string        `json:"error,omitempty"`
	Created *time.Time    `json:"created,omitempty"`
	Updated *time.Time    `json:"updated,omitempty"`
	Journal []entryJSON   `json:"journal"`
	Mailbox []messageJSON `json:"mailbox"`
	// Migrations are the task's moves between versions; Workers the live
	// workers that can run its version (in flight only).
	Migrations []task.Migration `json:"migrations,omitempty"`
	Workers    []string         `json:"workers,omitempty"`
	// Damage is why the task's record could not be read (a corrupt
	// journal entry, say): the fields above are then the listing's.
	Damage string `json:"damage,omitempty"`
}

type entryJSON struct {
	Seq    uint64     `json:"seq"`
	Fiber  uint32     `json:"fiber"`
	Kind   string     `json:"kind"`
	Op     string     `json:"op,omitempty"`
	Result string     `json:"result,omitempty"`
	Error  string     `json:"error,omitempty"`
	Time   *time.Time `json:"time,omitempty"`
}

type messageJSON struct {
	Seq  uint64 `json:"seq"`
	Type string `json:"type"`
	Data string `json:"data"`
}

func (e *env) taskShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a task: status, input, what it waits for, journal, mailbox",
		Args:  exactArgs(1),
		RunE: e.action(func(ctx context.Context, args []string) error {
			return e.withStore(ctx, reads, func(s store.Store) error { return e.show(ctx, s, args[0]) })
		}),
	}
}

// exactArgs is cobra.ExactArgs with an error that names the command.
func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d (see --help)", c.CommandPath(), n, len(args))
		}
		return nil
	}
}

func (e *env) show(ctx context.Context, s store.Store, id string) error {
	rec, msgs, err := s.Load(ctx, id)
	if errors.Is(err, task.ErrCorrupt) {
		return e.showDamaged(ctx, s, id, err)
	}
	if err != nil {
		return err
	}
	out := recordJSON{ID: rec.ID, Program: rec.Program, Version: rec.Version, Status: rec.Status, Reason: rec.Reason,
		Parent: rec.Parent, Name: rec.Name, Input: task.Render(rec.Input), Wait: waitToJSON(rec.Wait),
		Created: timePtr(rec.Created), Updated: timePtr(rec.Updated),
		Journal: make([]entryJSON, len(rec.Journal)), Mailbox: make([]messageJSON, len(msgs))}
	if rec.Result != nil {
		out.Result = task.Render(rec.Result)
	}
	if rec.Err != nil {
		out.Error = rec.Err.String()
	}
	for i, en := range rec.Journal {
		j := entryJSON{Seq: en.Seq, Fiber: en.Fiber, Kind: en.Kind, Time: timePtr(en.Time)}
		if len(en.Op) > 0 {
			j.Op = task.Render(en.Op)
		}
		if en.Err != nil {
			j.Error = en.Err.String()
		} else if len(en.Result) > 0 {
			j.Result = task.Render(en.Result)
		}
		out.Journal[i] = j
	}
	for i, m := range msgs {
		out.Mailbox[i] = messageJSON{Seq: m.Seq, Type: m.Env.Type, Data: task.Render(m.Env.Data)}
	}
	out.Migrations = rec.Migrations
	if !rec.Status.Final() {
		if out.Workers, _, err = whoCan(ctx, s, rec.Program, rec.Version); err != nil {
			return err
		}
	}
	return e.emit(out, func(w io.Writer) error {
		fmt.Fprintf(w, "task     %s\nprogram  %s v%d\nstatus   %s\n", rec.ID, rec.Program, rec.Version, rec.Status)
		if !rec.Status.Final() && len(out.Workers) == 0 {
			fmt.Fprintf(w, "needs    a worker with %s v%d: no live worker has it (amber version list %s)\n", rec.Program, rec.Version, rec.Program)
		}
		for _, m := range rec.Migrations {
			fmt.Fprintf(w, "migrated v%d -> v%d at %s\n", m.From, m.To, m.At.UTC().Format(time.RFC3339))
		}
		if rec.Reason != "" {
			fmt.Fprintf(w, "reason   %s\n", rec.Reason)
		}
		if rec.Parent != "" {
			fmt.Fprintf(w, "parent   %s\n", rec.Parent)
		}
		fmt.Fprintf(w, "input    %s\n", out.Input)
		if rec.Wait != nil {
			fmt.Fprintf(w, "waits    %s\n", inspect.WaitSummary(rec.Wait, ""))
			for _, o := range rec.Wait.Ops {
				fmt.Fprintf(w, "         fiber %d %s %s attempt %d until %s\n", o.Fiber, o.Kind, o.Phase, o.Attempt, o.Until.Format(time.RFC3339Nano))
			}
		}
		if rec.Result != nil {
			fmt.Fprintf(w, "result   %s\n", out.Result)
		}
		if rec.Err != nil {
			fmt.Fprintf(w, "error    %s\n", rec.Err.Msg)
		}
		fmt.Fprintf(w, "journal  %d entries\n", len(rec.Journal))
		for _, en := range rec.Journal {
			fmt.Fprintf(w, "  %s\n", en)
		}
		fmt.Fprintf(w, "mailbox  %d messages\n", len(msgs))
		for _, m := range msgs {
			fmt.Fprintf(w, "  #%d %s\n", m.Seq, m.Env)
		}
		return nil
	})
}

// showDamaged shows what the store's listing knows of task id, whose
// record could not be loaded (loadErr: a corrupt journal entry, message
// or record), and returns loadErr: the operator sees the task's program,
// version, status and wait beside the damage, and the command still fails.
func (e *env) showDamaged(ctx context.Context, s store.Store, id string, loadErr error) error {
	sums, err := s.List(ctx, store.Filter{IDContains: id})
	if err != nil {
		return loadErr
	}
	i := slices.IndexFunc(sums, func(sm store.Summary) bool { return sm.ID == id })
	if i < 0 {
		return loadErr
	}
	sm := sums[i]
	out := recordJSON{ID: sm.ID, Program: sm.Program, Version: sm.Version, Status: sm.Status, Reason: sm.Reason,
		Wait: waitToJSON(sm.Wait), Created: timePtr(sm.Created), Updated: timePtr(sm.Updated), Damage: loadErr.Error()}
	if err := e.emit(out, func(w io.Writer) error {
		fmt.Fprintf(w, "task     %s\nprogram  %s v%d\nstatus   %s\n", sm.ID, sm.Program, sm.Version, sm.Status)
		if sm.Reason != "" {
			fmt.Fprintf(w, "reason   %s\n", sm.Reason)
		}
		if sm.Wait != nil {
			fmt.Fprintf(w, "waits    %s\n", inspect.WaitSummary(sm.Wait, ""))
		}
		fmt.Fprintf(w, "journal  %d entries, unreadable: %v\nmailbox  %d messages\n", sm.Entries, loadErr, sm.Pending)
		return nil
	}); err != nil {
		return err
	}
	return loadErr
}

// replayJSON is one task's line of task replay --json.
type replayJSON struct {
	ID         string          `json:"id"`
	Program    string          `json:"program,omitempty"`
	Version    int             `json:"version,omitempty"`
	Entries    int             `json:"entries"`
	Fits       bool            `json:"fits"`
	Divergence *divergenceJSON `json:"divergence,omitempty"`
	Error      string          `json:"error,omitempty"`
	Done       bool            `json:"done,omitempty"`
	Result     string          `json:"result,omitempty"`
	Waits      []string        `json:"waits,omitempty"`
	// Routes lists the task's route overrides the replay honoured
	// (FUNCTION=VERSION), Swaps what the swapped calls did.
	Routes []string   `json:"routes,omitempty"`
	Swaps  []swapJSON `json:"swaps,omitempty"`
}

// swapJSON is one call a replay ran under the task's route override.
type swapJSON struct {
	Function string   `json:"function"`
	Version  string   `json:"version"`
	Result   string   `json:"result"`
	Ops      []string `json:"ops"`
}

type divergenceJSON struct {
	Seq      uint64 `json:"seq"`
	Fiber    uint32 `json:"fiber"`
	Recorded string `json:"recorded"`
	Issued   string `json:"issued"`
}

func (e *env) taskReplayCmd() *cobra.Command {
	var (
		version         int
		program, status string
	)
	c := &cobra.Command{
		Use:   "replay [ID...]",
		Short: "Replay tasks against their program, touching nothing, and report divergences",
		Long: `Replay runs each task's program again against its journal, performing
nothing, and reports whether the program still fits the journal. Name the
tasks by ID, or select them with --program (and --status). With --version,
the tasks are replayed against that version of their program instead: the
way to check a new version against tasks in flight. Exits with 3 if a task
diverged.`,
		Example: `  amber task replay abc123
  amber task replay --program renew --status waiting --version 2`,
		RunE: e.action(func(ctx context.Context, ids []string) error {
			st, err := parseStatus(status)
			if err != nil {
				return err
			}
			switch {
			case len(ids) == 0 && program == "":
				return usagef("task replay: name tasks by ID or select them with --program")
			case len(ids) > 0 && (program != "" || status != ""):
				return usagef("task replay: give IDs or --program/--status, not both")
			case version < 0:
				return usagef("--version must not be negative")
			}
			return e.withStore(ctx, reads, func(s store.Store) error {
				if program != "" {
					sums, err := s.List(ctx, store.Filter{Program: program, Status: st})
					if err != nil {
						return err
					}
					for _, sum := range sums {
						ids = append(ids, sum.ID)
					}
				}
				return e.replay(ctx, s, ids, version, len(ids) == 1 && program == "")
			})
		}),
	}
	f := c.Flags()
	f.IntVar(&version, "version", 0, "replay against this `version` of the program (default: the task's own)")
	f.StringVar(&program, "program", "", "replay every task of this `program`")
	f.StringVar(&status, "status", "", "with --program: only tasks with this `status`")
	return c
}

// replay replays the tasks ids, with a progress meter on stderr. one is a
// single task named on the command line: a failure to replay it (other
// than a divergence, which is reported) is the command's.
func (e *env) replay(ctx context.Context, s store.Store, ids []string, version int, one bool) error {
	out := make([]replayJSON, 0, len(ids))
	var failed, diverged int
	var firstErr error
	p := e.progress(len(ids), "replayed", "tasks")
	for _, id := range ids {
		r, err := e.replayOne(ctx, s, id, version)
		if err != nil {
			var d *interp.DivergenceError
			if one && !errors.As(err, &d) {
				p.finish()
				return err
			}
			if errors.As(err, &d) {
				diverged++
			} else {
				failed++
			}
			firstErr = cmpErr(firstErr, err)
		}
		out = append(out, r)
		p.add(1)
	}
	p.finish()
	err := e.emit(out, func(w io.Writer) error {
		for _, r := range out {
			switch {
			case r.Divergence != nil:
				fmt.Fprintf(w, "%s: diverges at seq %d (fiber %d)\n  recorded: %s\n  issued:   %s\n",
					r.ID, r.Divergence.Seq, r.Divergence.Fiber, r.Divergence.Recorded, r.Divergence.Issued)
			case r.Error != "":
				fmt.Fprintf(w, "%s: %s\n", r.ID, r.Error)
			default:
				fmt.Fprintf(w, "replayed %d entries of task %s: no divergence\n", r.Entries, r.ID)
				if len(r.Routes) > 0 {
					fmt.Fprintf(w, "  with the task's routes %s (every other call answered from the journal)\n", strings.Join(r.Routes, ", "))
				}
				for _, sw := range r.Swaps {
					fmt.Fprintf(w, "  %s ran version %s in a sandbox: %s\n", sw.Function, sw.Version, sw.Result)
					for _, op := range sw.Ops {
						fmt.Fprintf(w, "    %s\n", op)
					}
				}
				if r.Done {
					fmt.Fprintf(w, "  finished: %s\n", r.Result)
				}
				for _, wt := range r.Waits {
					fmt.Fprintf(w, "  waits: %s\n", wt)
				}
			}
		}
		if len(out) > 1 {
			fmt.Fprintf(w, "%d tasks: %d fit, %d diverge, %d failed\n", len(out), len(out)-diverged-failed, diverged, failed)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if firstErr != nil {
		return fmt.Errorf("%d of %d tasks did not replay cleanly: %w", failed+diverged, len(ids), firstErr)
	}
	return nil
}

// cmpErr keeps the error that decides the exit code: a failure over a
// divergence, else the first.
func cmpErr(old, err error) error {
	var d *interp.DivergenceError
	if old == nil || errors.As(old, &d) && !errors.As(err, &d) {
		return err
	}
	return old
}

func (e *env) replayOne(ctx context.Context, s store.Store, id string, version int) (replayJSON, error) {
	out := replayJSON{ID: id}
	rec, _, err := s.Load(ctx, id)
	if err != nil {
		out.Error = err.Error()
		return out, err
	}
	out.Program, out.Version, out.Entries = rec.Program, rec.Version, len(rec.Journal)
	if version > 0 {
		out.Version = version
	}
	opts := []interp.ReplayOption{interp.ReplayVersion(version), interp.WithRegistry(e.reg)}
	swaps, names, err := taskRoutes(ctx, s, id)
	if err != nil {
		out.Error = err.Error()
		return out, err
	}
	out.Routes = names
	r, err := interp.ReplayRecord(ctx, rec, append(opts, swaps...)...)
	if err != nil {
		var d *interp.DivergenceError
		if errors.As(err, &d) {
			out.Divergence = &divergenceJSON{Seq: d.Seq, Fiber: d.Fiber, Recorded: d.Recorded, Issued: d.Issued}
		}
		if errors.Is(err, task.ErrUnknownProgram) {
			err = fmt.Errorf("%w (this binary does not register it: build your own amber command with cli.Main and your registry)", err)
		}
		out.Error = err.Error()
		return out, err
	}
	out.Fits = true
	if r.Done {
		out.Done = true
		out.Result = fmt.Sprintf("result %v, error %v", r.Result, r.Err)
	}
	for _, p := range r.Pending {
		out.Waits = append(out.Waits, fmt.Sprintf("fiber %d on %s", p.Fiber, task.OpKind(p.Op)))
	}
	for _, sw := range r.Swaps {
		sj := swapJSON{Function: sw.Function, Version: sw.Version}
		if res := sw.Sandbox; res != nil {
			sj.Result = fmt.Sprintf("result %v, error %v", res.Result, res.Err)
			for _, op := range res.Trace {
				sj.Ops = append(sj.Ops, op.String()+" ("+op.Source.String()+")")
			}
		}
		out.Swaps = append(out.Swaps, sj)
	}
	return out, nil
}

// sentJSON is task send --json.
type sentJSON struct {
	Task    string `json:"task"`
	Type    string `json:"type"`
	Message any    `json:"message"`
}

func (e *env) taskSendCmd() *cobra.Command {
	var typ string
	c := &cobra.Command{
		Use:   "send ID JSON",
		Short: "Send a task a message, given as JSON, of a registered type",
		Long: `Send decodes JSON as a value of a registered message type and puts it in
the task's mailbox. The type is the one the task waits for, or --type. A
field the type does not have is an error, not silently dropped; the message
sent is echoed as it was decoded.`,
		Example: `  amber task send order-7 '{"By":"ops"}'
  amber task send order-7 '"go"' --type string`,
		Args: exactArgs(2),
		RunE: e.action(func(ctx context.Context, args []string) error {
			return e.withStore(ctx, writes, func(s store.Store) error { return e.send(ctx, s, args[0], args[1], typ) })
		}),
	}
	c.Flags().StringVar(&typ, "type", "", "registered message type `name` (default: the one the task waits for)")
	return c
}

func (e *env) send(ctx context.Context, s store.Store, id, body, typ string) error {
	if typ == "" {
		rec, _, err := s.Load(ctx, id)
		if err != nil {
			return err
		}
		if rec.Status.Final() {
			return fmt.Errorf("task %s has finished (%s): %w", id, rec.Status, store.ErrFinished)
		}
		if rec.Wait == nil || len(rec.Wait.Types) != 1 {
			return usagef("task %s does not wait for exactly one message type; name it with --type", id)
		}
		typ = rec.Wait.Types[0]
	}
	msg, err := inspect.DecodeMessageJSON(e.reg, typ, body)
	if errors.Is(err, inspect.ErrBadMessage) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	env, err := e.reg.EncodeMessage(msg)
	if err != nil {
		return err
	}
	if err := s.Send(ctx, id, env); err != nil {
		return err
	}
	return e.emit(sentJSON{Task: id, Type: typ, Message: msg}, func(w io.Writer) error {
		var echo bytes.Buffer
		if err := json.NewEncoder(&echo).Encode(msg); err != nil {
			return err
		}
		fmt.Fprintf(w, "sent %s %s to task %s\n", typ, strings.TrimSpace(echo.String()), id)
		return nil
	})
}

func (e *env) taskCancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Ask a task to cancel; its worker ends it when it next claims it",
		Args:  exactArgs(1),
		RunE: e.action(func(ctx context.Context, args []string) error {
			return e.withStore(ctx, writes, func(s store.Store) error {
				if err := s.Cancel(ctx, args[0]); err != nil {
					return err
				}
				return e.emit(struct {
					Task   string `json:"task"`
					Cancel string `json:"cancel"`
				}{args[0], "requested"}, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "asked task %s to cancel; its worker ends it when it next claims it\n", args[0])
					return err
				})
			})
		}),
	}
}
