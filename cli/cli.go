// Package cli is the amber command line: inspect and drive durable tasks
// from the shell. cmd/amber is this package with an empty registry; build
// your own binary with your programs and message types registered to
// replay tasks and send them typed messages:
//
//	func main() { os.Exit(cli.Main(os.Args[1:], myRegistry(), os.Stdout, os.Stderr)) }
//
// Commands:
//
//	amber task list   [--status S] [--program P]
//	amber task show   ID
//	amber task replay ID [--version N]
//	amber task send   ID JSON [--type NAME]
//	amber task cancel ID
//
// Each takes --db FILE (default ./amber.db) or --postgres URL.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// Main runs the command line with args (without the program name) and
// returns the exit code.
func Main(args []string, reg *task.Registry, stdout, stderr io.Writer) int {
	if reg == nil {
		reg = task.NewRegistry()
	}
	if err := run(context.Background(), args, reg, stdout); err != nil {
		fmt.Fprintln(stderr, "amber:", err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg + "\n" + usage }

const usage = `usage:
  amber task list   [--status S] [--program P] [--db FILE | --postgres URL]
  amber task show   ID [--db FILE | --postgres URL]
  amber task replay ID [--version N] [--db FILE | --postgres URL]
  amber task send   ID JSON [--type NAME] [--db FILE | --postgres URL]
  amber task cancel ID [--db FILE | --postgres URL]`

func run(ctx context.Context, args []string, reg *task.Registry, out io.Writer) error {
	if len(args) < 2 || args[0] != "task" {
		return usageError{"expected a task command"}
	}
	cmd := args[1]
	fs := flag.NewFlagSet("amber task "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db := fs.String("db", "./amber.db", "SQLite file")
	pg := fs.String("postgres", "", "PostgreSQL URL (instead of --db)")
	status := fs.String("status", "", "list: only tasks with this status")
	program := fs.String("program", "", "list: only tasks of this program")
	version := fs.Int("version", 0, "replay: replay against this version of the program")
	typ := fs.String("type", "", "send: registered message type name")
	pos, err := parseInterleaved(fs, args[2:])
	if err != nil {
		return usageError{err.Error()}
	}
	// A SQLite file has one worker process: the CLI reads it beside the
	// worker, and sends and cancels as a client.
	mode := sqlite.ModeReadOnly
	if cmd == "send" || cmd == "cancel" {
		mode = sqlite.ModeClient
	}
	st, err := openStore(ctx, *db, *pg, mode)
	if err != nil {
		return err
	}
	defer st.Close()
	need := func(n int) error {
		if len(pos) != n {
			return usageError{fmt.Sprintf("amber task %s takes %d argument(s)", cmd, n)}
		}
		return nil
	}
	switch cmd {
	case "list":
		if err := need(0); err != nil {
			return err
		}
		return list(ctx, st, store.Filter{Status: task.Status(*status), Program: *program}, out)
	case "show":
		if err := need(1); err != nil {
			return err
		}
		return show(ctx, st, pos[0], out)
	case "replay":
		if err := need(1); err != nil {
			return err
		}
		return replay(ctx, st, reg, pos[0], *version, out)
	case "send":
		if err := need(2); err != nil {
			return err
		}
		return send(ctx, st, reg, pos[0], pos[1], *typ, out)
	case "cancel":
		if err := need(1); err != nil {
			return err
		}
		if err := st.Cancel(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(out, "asked task %s to cancel; its worker ends it when it next claims it\n", pos[0])
		return nil
	}
	return usageError{"unknown command " + cmd}
}

// parseInterleaved parses flags that may come before or after the
// positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func openStore(ctx context.Context, db, pg string, mode sqlite.Mode) (store.Store, error) {
	if pg != "" {
		return postgres.Open(ctx, pg, nil)
	}
	return sqlite.Open(db, &sqlite.Options{Mode: mode})
}

func list(ctx context.Context, st store.Store, f store.Filter, out io.Writer) error {
	tasks, err := st.List(ctx, f)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPROGRAM\tSTATUS\tSTEPS\tENTRIES\tMAILBOX\tWAITS FOR\tUPDATED")
	for _, s := range tasks {
		fmt.Fprintf(w, "%s\t%s@v%d\t%s\t%d\t%d\t%d\t%s\t%s\n", s.ID, s.Program, s.Version, s.Status, s.Steps, s.Entries, s.Pending,
			describeWait(s.Wait, s.Reason), s.Updated.Format(time.RFC3339))
	}
	return w.Flush()
}

func describeWait(w *task.Wait, reason string) string {
	if reason != "" && w == nil {
		return reason
	}
	if w == nil {
		return "-"
	}
	s := w.Kind
	if len(w.Types) > 0 {
		s += " " + strings.Join(w.Types, "|")
	}
	if w.Detail != "" {
		s += " " + w.Detail
	}
	if !w.Until.IsZero() {
		s += " until " + w.Until.Format(time.RFC3339)
	}
	return s
}

func show(ctx context.Context, st store.Store, id string, out io.Writer) error {
	rec, msgs, err := st.Load(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "task     %s\nprogram  %s v%d\nstatus   %s\n", rec.ID, rec.Program, rec.Version, rec.Status)
	if rec.Reason != "" {
		fmt.Fprintf(out, "reason   %s\n", rec.Reason)
	}
	if rec.Parent != "" {
		fmt.Fprintf(out, "parent   %s\n", rec.Parent)
	}
	fmt.Fprintf(out, "input    %s\n", task.Render(rec.Input))
	if rec.Wait != nil {
		fmt.Fprintf(out, "waits    %s\n", describeWait(rec.Wait, ""))
		for _, o := range rec.Wait.Ops {
			fmt.Fprintf(out, "         fiber %d %s %s attempt %d until %s\n", o.Fiber, o.Kind, o.Phase, o.Attempt, o.Until.Format(time.RFC3339Nano))
		}
	}
	if rec.Result != nil {
		fmt.Fprintf(out, "result   %s\n", task.Render(rec.Result))
	}
	if rec.Err != nil {
		fmt.Fprintf(out, "error    %s\n", rec.Err.Msg)
	}
	fmt.Fprintf(out, "journal  %d entries\n", len(rec.Journal))
	for _, en := range rec.Journal {
		fmt.Fprintf(out, "  %s\n", en)
	}
	fmt.Fprintf(out, "mailbox  %d messages\n", len(msgs))
	for _, m := range msgs {
		fmt.Fprintf(out, "  #%d %s\n", m.Seq, m.Env)
	}
	return nil
}

func replay(ctx context.Context, st store.Store, reg *task.Registry, id string, version int, out io.Writer) error {
	rec, _, err := st.Load(ctx, id)
	if err != nil {
		return err
	}
	r, err := interp.ReplayRecord(ctx, rec, version, interp.WithRegistry(reg))
	if err != nil {
		if errors.Is(err, task.ErrUnknownProgram) {
			return fmt.Errorf("%w (this binary does not register it: build your own amber command with cli.Main and your registry)", err)
		}
		return err
	}
	fmt.Fprintf(out, "replayed %d entries of task %s: no divergence\n", len(r.Journal), id)
	if r.Done {
		fmt.Fprintf(out, "finished: result %v, error %v\n", r.Result, r.Err)
		return nil
	}
	for _, p := range r.Pending {
		fmt.Fprintf(out, "waits: fiber %d on %T\n", p.Fiber, p.Op)
	}
	return nil
}

func send(ctx context.Context, st store.Store, reg *task.Registry, id, body, typ string, out io.Writer) error {
	if typ == "" {
		rec, _, err := st.Load(ctx, id)
		if err != nil {
			return err
		}
		if rec.Wait == nil || len(rec.Wait.Types) != 1 {
			return usageError{fmt.Sprintf("task %s does not wait for exactly one message type; name it with --type", id)}
		}
		typ = rec.Wait.Types[0]
	}
	t, ok := reg.MessageType(typ)
	if !ok {
		return fmt.Errorf("message type %q is not registered in this binary (build your own amber command with cli.Main and your registry)", typ)
	}
	ptr := reflect.New(t)
	if err := json.Unmarshal([]byte(body), ptr.Interface()); err != nil {
		return fmt.Errorf("decoding %s as %s: %w", body, typ, err)
	}
	env, err := reg.EncodeMessage(ptr.Elem().Interface())
	if err != nil {
		return err
	}
	if err := st.Send(ctx, id, env); err != nil {
		return err
	}
	fmt.Fprintf(out, "sent %s %s to task %s\n", typ, body, id)
	return nil
}
