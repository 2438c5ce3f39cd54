// Package cli is the amber command line: inspect and drive durable tasks
// from the shell, and serve the inspector. cmd/amber is this package with an
// empty registry; build your own binary with your programs and message types
// registered to replay tasks, send them typed messages and see their values
// in the inspector:
//
//	func main() { os.Exit(cli.Main(os.Args[1:], myRegistry(), os.Stdout, os.Stderr)) }
//
// # Commands
//
//	amber task list   [--status S] [--program P] [--version N] [--limit N]
//	amber task show   ID
//	amber task replay ID... | --program P [--status S]  [--version N]
//	amber task send   ID JSON [--type NAME]
//	amber task cancel ID
//	amber version list [PROGRAM]
//	amber version set-current PROGRAM VERSION [--force]
//	amber version retire PROGRAM VERSION [--force]
//	amber version log [--since SEQ]
//	amber deploy check PROGRAM --to VERSION [--from VERSION]
//	amber deploy migrate PROGRAM --from VERSION --to VERSION
//	amber serve       [--addr HOST:PORT] [--token T]
//	amber route set   FUNCTION [--primary V] [--percent V=P] [--shadow --candidate V [--sampling F]]
//	                  [--no-shadow] [--task ID --version V | --clear] [--force] [--why TEXT]
//	amber route show  FUNCTION
//	amber route list
//	amber route divergences FUNCTION [--limit N]
//	amber route history [FUNCTION]
//
// Every command takes --help, --json (machine-readable output on stdout)
// and a store: --db FILE (default ./amber.db; a file that does not exist is
// refused unless --create is given) or --postgres URL [--schema NAME].
// Commands are grouped one file per group (task.go, serve.go, vet.go, and
// the coming version, deploy and route groups), each adding its cobra
// command to the root in commands.
//
// # Exit codes
//
//	0  success
//	1  the command failed (the store could not be opened, no such task, ...)
//	2  the command line is wrong (unknown command or flag, a bad argument,
//	   an unknown --status, a message that does not decode as its type)
//	3  task replay: a task no longer fits its journal (it diverged);
//	   deploy check: a task does not fit the version checked
//
// With --json, an error is also printed to stderr as {"error": MESSAGE,
// "exit": CODE}.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
	"github.com/amberrt/amber/vet"
	"github.com/spf13/cobra"
)

// The exit codes of Main (see the package documentation).
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitDiverged = 3
)

const exitCodesHelp = `Exit codes:
  0  success
  1  the command failed (the store could not be opened, no such task, ...)
  2  the command line is wrong (unknown command or flag, a bad argument,
     an unknown --status, a message that does not decode as its type)
  3  task replay: a task no longer fits its journal (it diverged);
     deploy check: a task does not fit the version checked`

// Main runs the command line with args (without the program name) and
// returns the exit code. reg holds the programs and message types of the
// binary (nil for none).
//
// When go vet runs the binary as its vet tool (amber vet does), Main serves
// that protocol instead and does not return.
func Main(args []string, reg *task.Registry, stdout, stderr io.Writer) int {
	if vet.IsVettool(args) {
		vet.ServeVettool()
	}
	return run(context.Background(), args, reg, stdout, stderr)
}

func run(ctx context.Context, args []string, reg *task.Registry, stdout, stderr io.Writer) int {
	if reg == nil {
		reg = task.NewRegistry()
	}
	e := &env{reg: reg, stdout: stdout, stderr: stderr}
	root := e.root()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := e.exitCode(err)
	if errors.As(err, new(vetExit)) {
		return code // the analyzer has said what it found
	}
	if e.json {
		_ = json.NewEncoder(stderr).Encode(struct {
			Error string `json:"error"`
			Exit  int    `json:"exit"`
		}{err.Error(), code})
	} else {
		fmt.Fprintln(safeWriter{stderr}, "amber:", err)
		if code == ExitUsage && !e.ran {
			fmt.Fprintln(stderr, "Run 'amber --help' for usage.")
		}
	}
	return code
}

// env is what the commands share: the registry, the output, and the global
// flags.
type env struct {
	reg            *task.Registry
	stdout, stderr io.Writer

	db, pg, schema string
	create, json   bool

	// ran is set when a command's own code starts: an error before that
	// is cobra's, about the command line.
	ran bool
}

// commands returns the command groups, one file each. The version, deploy
// and route groups of issues 10 and 12 are added here.
func (e *env) commands() []*cobra.Command {
	cmds := []*cobra.Command{e.taskCmd(), e.versionCmd(), e.deployCmd(), e.routeCmd(), e.serveCmd()}
	if vet := e.vetCmd(); vet != nil {
		cmds = append(cmds, vet)
	}
	return cmds
}

// knows says in the help which programs the command knows: those of the
// registry given to Main, or none (the plain amber command).
func (e *env) knows() string {
	var names []string
	for _, p := range e.reg.Programs() {
		names = append(names, fmt.Sprintf("%s v%d", p.ProgramName(), p.ProgramVersion()))
	}
	if len(names) == 0 {
		return `The amber command knows no programs or message types of yours: build your
own with cli.Main and your registry to replay tasks and send typed messages.

`
	}
	return "This command knows the programs " + strings.Join(names, ", ") + ".\n\n"
}

func (e *env) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "amber",
		Short: "Inspect and drive durable amber tasks",
		Long: `amber inspects and drives durable amber tasks: list them, show their
journals, replay them against their program, send them messages, cancel
them, and serve the inspector in a browser.

` + e.knows() + exitCodesHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
		// A bare "amber" or "amber task" prints its help; an unknown
		// command is an error (cobra's legacy check, kept by Args).
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&e.db, "db", "./amber.db", "SQLite store `file`")
	pf.BoolVar(&e.create, "create", false, "create the --db file if it does not exist")
	pf.StringVar(&e.pg, "postgres", "", "PostgreSQL store `URL` (instead of --db)")
	pf.StringVar(&e.schema, "schema", "", "PostgreSQL schema of the store (default amber)")
	pf.BoolVar(&e.json, "json", false, "machine-readable output (JSON on stdout)")
	for _, c := range e.commands() {
		root.AddCommand(c)
	}
	return root
}

// action wraps a command's code: it marks the command line as accepted.
func (e *env) action(f func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		e.ran = true
		return f(c.Context(), args)
	}
}

// usageError is an error in the command line: exit code 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func (e *env) exitCode(err error) int {
	var (
		u usageError
		d *interp.DivergenceError
		v vetExit
	)
	switch {
	case errors.As(err, &v):
		return v.code
	case errors.As(err, &u), !e.ran:
		return ExitUsage
	case errors.As(err, &d), errors.As(err, new(divergedError)):
		return ExitDiverged
	}
	return ExitFailure
}

// open opens the store named by the flags. A --db file that does not
// exist is refused unless --create is given: a typo must not look like an
// empty store.
//
// A SQLite file has one worker process, which holds its lock: the
// commands that only read open it read-only, and those that write (send,
// cancel, the inspector's actions, --create) as a client, beside the
// worker.
func (e *env) open(ctx context.Context, a access) (store.Store, error) {
	if e.pg != "" {
		var opts *postgres.Options
		if e.schema != "" {
			opts = &postgres.Options{Schema: e.schema}
		}
		return postgres.Open(ctx, e.pg, opts)
	}
	path := e.db
	if path == "" {
		return nil, usagef("--db: empty path")
	}
	if a == claims {
		return e.openClaims()
	}
	mode := sqlite.ModeReadOnly
	if a == writes {
		mode = sqlite.ModeClient
	}
	if !strings.HasPrefix(path, "file:") {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if !e.create {
				return nil, fmt.Errorf("no amber store at %s (give --db an existing file, --postgres a URL, or --create to make a new store there)", path)
			}
			mode = sqlite.ModeWorker // the one open that makes a store; no worker runs on a missing file
		} else if err != nil {
			return nil, err
		}
	}
	return sqlite.Open(path, &sqlite.Options{Mode: mode})
}

// access is what a command does to its store.
type access uint8

const (
	reads  access = iota // list, show, replay
	writes               // send, cancel, serve (its actions), set-current, migrate
)

// withStore opens the store for a, runs f, and closes the store.
func (e *env) withStore(ctx context.Context, a access, f func(st store.Store) error) error {
	st, err := e.open(ctx, a)
	if err != nil {
		return err
	}
	defer st.Close()
	return f(st)
}

// emit prints v as JSON with --json, or runs text otherwise.
func (e *env) emit(v any, text func(w io.Writer) error) error {
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return text(safeWriter{e.stdout})
}
