package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/cli"
	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

type Raise struct{ By string }

// ask reads the clock, then waits for a Raise.
var ask = effect.NewProgram("ask", 1, func(who string) effect.Eff[string] {
	return effect.Then(effect.Now(), func(time.Time) effect.Eff[string] {
		return effect.Map(effect.Receive[Raise](), func(r Raise) string { return who + " raised by " + r.By })
	})
})

// ask2 is a version of ask that no longer fits ask's journals: it does
// not read the clock.
var ask2 = effect.NewProgram("ask", 2, func(who string) effect.Eff[string] {
	return effect.Map(effect.Receive[Raise](), func(r Raise) string { return who + " raised by " + r.By })
})

func registry() *task.Registry {
	r := task.NewRegistry()
	if err := task.Register(r, ask); err != nil {
		panic(err)
	}
	if err := task.Register(r, ask2); err != nil {
		panic(err)
	}
	if err := task.RegisterMessage[Raise](r, "test.Raise"); err != nil {
		panic(err)
	}
	return r
}

type result struct {
	out, err string
	code     int
}

func amber(t *testing.T, reg *task.Registry, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(args, reg, &out, &errOut)
	return result{out.String(), errOut.String(), code}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// worker runs a durable worker on db with ask tasks ids started, and
// returns once they all wait for a message.
func worker(t *testing.T, db string, reg *task.Registry, ids ...string) (*interp.Durable, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(db, nil)
	require.NoError(t, err)
	d, err := interp.NewDurable(st, interp.WithRegistry(reg),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond}))
	require.NoError(t, err)
	for _, id := range ids {
		_, err = interp.StartProgram(d, ask, id, interp.WithID(id), interp.WithVersion(ask.Version))
		require.NoError(t, err)
	}
	ctx := context.Background()
	waitFor(t, "tasks to wait", func() bool {
		for _, id := range ids {
			if s, _ := st.Status(ctx, id); s != task.Waiting {
				return false
			}
		}
		return true
	})
	return d, st
}

// fixture makes a store with waiting ask tasks ids and no worker.
func fixture(t *testing.T, reg *task.Registry, ids ...string) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "amber.db")
	d, st := worker(t, db, reg, ids...)
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())
	return db
}

// TestTaskCommands drives a waiting task from the command line: list, show,
// send (the JSON decoded as the type the task waits for), replay, cancel.
func TestTaskCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "amber.db")
	reg := registry()
	d, st := worker(t, db, reg, "q1", "q2")
	defer func() { d.Close(); st.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	r := amber(t, reg, "task", "list", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "q1")
	require.Contains(t, r.out, "receive test.Raise")

	r = amber(t, reg, "task", "show", "q1", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "status   waiting")
	require.Contains(t, r.out, `input    "q1"`)

	r = amber(t, reg, "task", "replay", "q1", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "no divergence")

	r = amber(t, reg, "task", "send", "q1", `{"By":"ops"}`, "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, `sent test.Raise {"By":"ops"} to task q1`)
	h, ok := d.Task("q1")
	require.True(t, ok)
	v, err := h.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "q1 raised by ops", v)
	// A finished task takes no more messages: say so, not that its type
	// is unknown.
	r = amber(t, reg, "task", "send", "q1", `{"By":"ops"}`, "--db", db)
	require.Equal(t, cli.ExitFailure, r.code, r.err)
	require.Contains(t, r.err, "task q1 has finished (done)")

	r = amber(t, reg, "task", "cancel", "q2", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	h, ok = d.Task("q2")
	require.True(t, ok)
	_, err = h.Wait(ctx)
	require.ErrorIs(t, err, effect.ErrCancelled)

	// Bad input: clear errors, exit codes.
	r = amber(t, nil, "task", "send", "q1", `{"By":"x"}`, "--type", "test.Raise", "--db", db)
	require.Equal(t, cli.ExitFailure, r.code)
	require.Contains(t, r.err, "not registered in this binary")
	r = amber(t, reg, "task", "show", "nope", "--db", db)
	require.Equal(t, cli.ExitFailure, r.code)
	require.Contains(t, r.err, "no such task")
	r = amber(t, reg, "frobnicate")
	require.Equal(t, cli.ExitUsage, r.code)
	require.Contains(t, r.err, `unknown command "frobnicate"`)
}

// TestHelp: --help works on the root and on every command, exits 0, and
// documents the exit codes.
func TestHelp(t *testing.T) {
	r := amber(t, nil, "--help")
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "Exit codes:")
	require.Contains(t, r.out, "3  task replay")
	for _, args := range [][]string{
		{"task", "--help"}, {"task", "list", "--help"}, {"task", "show", "-h"}, {"task", "replay", "--help"},
		{"task", "send", "--help"}, {"task", "cancel", "--help"}, {"serve", "--help"}, {"help", "task"},
	} {
		r := amber(t, nil, args...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.err)
		require.Contains(t, r.out, "Usage:", args)
		require.Contains(t, r.out, "--json", args)
	}
	r = amber(t, nil, "task", "send", "--help")
	require.Contains(t, r.out, "send ID JSON")
}

// TestUsageErrors: a wrong command line exits 2 and says what is wrong,
// before any store is opened.
func TestUsageErrors(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"task", "list", "--status", "sleeping", "--db", db}, `--status "sleeping": not a task status`},
		{[]string{"task", "replay", "--program", "ask", "--status", "nope"}, `--status "nope"`},
		{[]string{"task", "list", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"task", "show"}, "takes 1 argument(s), got 0"},
		{[]string{"task", "send", "q1"}, "takes 2 argument(s), got 1"},
		{[]string{"task", "replay"}, "name tasks by ID or select them with --program"},
		{[]string{"task", "frob"}, `unknown command "frob"`},
	} {
		r := amber(t, registry(), c.args...)
		require.Equal(t, cli.ExitUsage, r.code, "%v: %s%s", c.args, r.out, r.err)
		require.Contains(t, r.err, c.says, c.args)
	}
	_, err := os.Stat(db)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestMissingDB: --db refuses a file that does not exist instead of
// creating an empty store; --create opts in.
func TestMissingDB(t *testing.T) {
	db := filepath.Join(t.TempDir(), "typo.db")
	r := amber(t, nil, "task", "list", "--db", db)
	require.Equal(t, cli.ExitFailure, r.code)
	require.Contains(t, r.err, "no amber store at "+db)
	require.Contains(t, r.err, "--create")
	_, err := os.Stat(db)
	require.ErrorIs(t, err, os.ErrNotExist, "the refused file must not be created")

	r = amber(t, nil, "task", "list", "--db", db, "--create", "--json")
	require.Equal(t, 0, r.code, r.err)
	require.JSONEq(t, "[]", r.out)
	_, err = os.Stat(db)
	require.NoError(t, err)
}

// TestSendStrict: task send refuses a field the type does not have and
// trailing data, and echoes the message as decoded.
func TestSendStrict(t *testing.T) {
	reg := registry()
	db := fixture(t, reg, "s1")
	r := amber(t, reg, "task", "send", "s1", `{"By":"ops","Urgent":true}`, "--db", db)
	require.Equal(t, cli.ExitUsage, r.code, r.out)
	require.Contains(t, r.err, `unknown field "Urgent"`)
	r = amber(t, reg, "task", "send", "s1", `{"By":"ops"} {"By":"again"}`, "--db", db)
	require.Equal(t, cli.ExitUsage, r.code, r.out)
	require.Contains(t, r.err, "data after the value")
	r = amber(t, reg, "task", "send", "s1", `{"By":"ops"}`, "--db", db, "--json")
	require.Equal(t, 0, r.code, r.err)
	var sent struct {
		Task, Type string
		Message    Raise
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &sent))
	require.Equal(t, "s1", sent.Task)
	require.Equal(t, "test.Raise", sent.Type)
	require.Equal(t, Raise{By: "ops"}, sent.Message)
	// An empty object decodes to the zero value, and the echo shows it.
	r = amber(t, reg, "task", "send", "s1", `{}`, "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, `sent test.Raise {"By":""} to task s1`)
}

// TestJSON: every task command prints JSON with --json, and an error is
// JSON on stderr.
func TestJSON(t *testing.T) {
	reg := registry()
	db := fixture(t, reg, "j1", "j2")
	var list []map[string]any
	r := amber(t, reg, "task", "list", "--db", db, "--json")
	require.Equal(t, 0, r.code, r.err)
	require.NoError(t, json.Unmarshal([]byte(r.out), &list), r.out)
	require.Len(t, list, 2)
	require.Equal(t, "j1", list[0]["id"])
	require.Equal(t, "waiting", list[0]["status"])
	require.Equal(t, "receive test.Raise", list[0]["waits_for"])

	var show map[string]any
	r = amber(t, reg, "task", "show", "j1", "--db", db, "--json")
	require.Equal(t, 0, r.code, r.err)
	require.NoError(t, json.Unmarshal([]byte(r.out), &show), r.out)
	require.Equal(t, `"j1"`, show["input"])
	require.Equal(t, "receive", show["wait"].(map[string]any)["kind"])

	var replay []map[string]any
	r = amber(t, reg, "task", "replay", "j1", "--db", db, "--json")
	require.Equal(t, 0, r.code, r.err)
	require.NoError(t, json.Unmarshal([]byte(r.out), &replay), r.out)
	require.Equal(t, true, replay[0]["fits"])

	var cancel map[string]any
	r = amber(t, reg, "task", "cancel", "j2", "--db", db, "--json")
	require.Equal(t, 0, r.code, r.err)
	require.NoError(t, json.Unmarshal([]byte(r.out), &cancel), r.out)
	require.Equal(t, "requested", cancel["cancel"])

	var failure struct {
		Error string
		Exit  int
	}
	r = amber(t, reg, "task", "show", "nope", "--db", db, "--json")
	require.Equal(t, cli.ExitFailure, r.code)
	require.Empty(t, r.out)
	require.NoError(t, json.Unmarshal([]byte(r.err), &failure), r.err)
	require.Contains(t, failure.Error, "no such task")
	require.Equal(t, cli.ExitFailure, failure.Exit)
}

// TestReplayMany replays every task of a program against a version that
// no longer fits: each diverges, the exit code is 3, and progress goes to
// stderr as plain lines (stderr is not a terminal here).
func TestReplayMany(t *testing.T) {
	reg := registry()
	ids := []string{"r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10"}
	db := fixture(t, reg, ids...)

	r := amber(t, reg, "task", "replay", "--program", "ask", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "10 tasks: 10 fit, 0 diverge, 0 failed")
	require.Contains(t, r.err, "replayed 1/10 tasks\n")
	require.Contains(t, r.err, "replayed 10/10 tasks\n")
	require.Equal(t, 10, strings.Count(r.err, "replayed "), r.err)

	r = amber(t, reg, "task", "replay", "--program", "ask", "--status", "waiting", "--version", "2", "--db", db)
	require.Equal(t, cli.ExitDiverged, r.code, r.out+r.err)
	require.Contains(t, r.out, "r01: diverges at seq 1")
	require.Contains(t, r.out, "10 tasks: 0 fit, 10 diverge, 0 failed")

	r = amber(t, reg, "task", "replay", "r01", "--version", "2", "--db", db, "--json")
	require.Equal(t, cli.ExitDiverged, r.code)
	var out []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.out), &out), r.out)
	require.EqualValues(t, 1, out[0]["divergence"].(map[string]any)["seq"])

	// A binary that does not know the program: a failure, which says how
	// to fix it.
	r = amber(t, nil, "task", "replay", "r01", "--db", db)
	require.Equal(t, cli.ExitFailure, r.code)
	require.Contains(t, r.err, "build your own amber command")
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	pw *io.PipeWriter
}

func (b syncBuffer) Write(p []byte) (int, error) { return b.pw.Write(p) }

// TestServe: serve refuses a non-loopback address without a token, and
// serves the inspector on loopback until its context ends.
func TestServe(t *testing.T) {
	reg := registry()
	db := fixture(t, reg, "v1")
	r := amber(t, reg, "serve", "--addr", "0.0.0.0:0", "--db", db)
	require.Equal(t, cli.ExitUsage, r.code)
	require.Contains(t, r.err, "needs a token")
	// A store that cannot be opened: a clear message, exit 1.
	r = amber(t, reg, "serve", "--db", filepath.Join(t.TempDir(), "missing.db"))
	require.Equal(t, cli.ExitFailure, r.code)
	require.Contains(t, r.err, "no amber store at")
	notDB := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(notDB, []byte("not a database, just some words that fill a page of text\n"), 0o644))
	r = amber(t, reg, "serve", "--db", notDB)
	require.Equal(t, cli.ExitFailure, r.code)
	require.Contains(t, r.err, "not an amber database")

	ctx, cancel := context.WithCancel(context.Background())
	defer cli.SetServeContext(func(context.Context) (context.Context, context.CancelFunc) { return ctx, cancel })()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		done <- cli.Main([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, reg, syncBuffer{pw}, &errOut)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	go io.Copy(io.Discard, pr)
	require.Contains(t, line, "amber inspector on http://127.0.0.1:")
	url := strings.Fields(strings.TrimPrefix(line, "amber inspector on "))[0]
	resp, err := http.Get(url + "tasks/v1")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "test.Raise")
	// The replay debugger knows this binary's programs.
	resp, err = http.Get(url + "tasks/v1/replay")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "fits this journal to its end")
	cancel()
	require.Equal(t, 0, <-done, errOut.String())
}

// TestHostileText: a task ID with a terminal escape sequence is printed
// escaped, never as a command to the terminal.
func TestHostileText(t *testing.T) {
	reg := registry()
	evil := "q\x1b]0;pwned\x07\u009b2J"
	db := fixture(t, reg, evil)
	r := amber(t, reg, "task", "list", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.NotContains(t, r.out, "\x1b")
	require.NotContains(t, r.out, "\u009b")
	require.Contains(t, r.out, `q\u001b]0;pwned\u0007\u009b2J`)
	r = amber(t, reg, "task", "show", evil+"x", "--db", db)
	require.Equal(t, cli.ExitFailure, r.code)
	require.NotContains(t, r.err, "\x1b")
	// JSON output escapes them as JSON does.
	r = amber(t, reg, "task", "list", "--db", db, "--json")
	require.Equal(t, 0, r.code, r.err)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.out), &list))
	require.Equal(t, evil, list[0]["id"])
}

// TestPostgres: the commands read a PostgreSQL store in the schema given
// by --schema.
func TestPostgres(t *testing.T) {
	base := os.Getenv("AMBER_TEST_POSTGRES")
	if base == "" {
		t.Skip("set AMBER_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the CLI against PostgreSQL")
	}
	ctx := context.Background()
	schema := fmt.Sprintf("amber_cli_test_%d", time.Now().UnixNano())
	st, err := postgres.Open(ctx, base, &postgres.Options{Schema: schema})
	require.NoError(t, err)
	t.Cleanup(func() {
		st.Close()
		conn, err := pgx.Connect(ctx, base)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		require.NoError(t, err)
	})
	in, err := task.Marshal("pg")
	require.NoError(t, err)
	now := time.Now().UTC()
	require.NoError(t, st.Create(ctx, &task.Record{ID: "p1", Program: "ask", Version: 1, Input: in, Status: task.Running, Created: now, Updated: now}))

	r := amber(t, registry(), "task", "list", "--postgres", base, "--schema", schema, "--json")
	require.Equal(t, 0, r.code, r.err)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.out), &list), r.out)
	require.Len(t, list, 1)
	require.Equal(t, "p1", list[0]["id"])
	r = amber(t, registry(), "task", "send", "p1", `{"By":"pg"}`, "--type", "test.Raise", "--postgres", base, "--schema", schema)
	require.Equal(t, 0, r.code, r.err)
	ms, err := st.Messages(ctx, "p1", 0)
	require.NoError(t, err)
	require.Len(t, ms, 1)
}
