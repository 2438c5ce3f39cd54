package cli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// ask3 is a version of ask that fits ask's journals: it reads the clock,
// then waits, and says it is version 3.
var ask3 = effect.NewProgram("ask", 3, func(who string) effect.Eff[string] {
	return effect.Then(effect.Now(), func(time.Time) effect.Eff[string] {
		return effect.Map(effect.Receive[Raise](), func(r Raise) string { return who + " raised by " + r.By + " (v3)" })
	})
})

func registry3() *task.Registry {
	r := registry()
	if err := task.Register(r, ask3); err != nil {
		panic(err)
	}
	return r
}

// TestVersionCommands: version list, set-current, retire and log, with
// their refusals, which change nothing.
func TestVersionCommands(t *testing.T) {
	reg := registry3()
	db := fixture(t, reg, "a1", "a2")

	r := amber(t, reg, "version", "list", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "current (highest)")
	require.Contains(t, r.out, "2 (2 waiting)")

	r = amber(t, reg, "version", "set-current", "ask", "9", "--db", db)
	require.Equal(t, 1, r.code, r.out)
	require.Contains(t, r.err, "ask v9: unknown version")
	require.Contains(t, r.err, "nothing changed")
	r = amber(t, reg, "version", "set-current", "ask", "x", "--db", db)
	require.Equal(t, 2, r.code, r.out)

	r = amber(t, reg, "version", "set-current", "ask", "3", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "ask: new tasks start on v3")

	r = amber(t, reg, "version", "list", "ask", "--json", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	var vs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.out), &vs))
	require.Len(t, vs, 2)
	require.Equal(t, float64(1), vs[0]["version"])
	require.Equal(t, "draining", vs[0]["drain"])
	require.Equal(t, map[string]any{"waiting": float64(2)}, vs[0]["in_flight"])
	require.Equal(t, "a1", vs[0]["oldest"])
	require.Equal(t, float64(3), vs[1]["version"])
	require.Equal(t, true, vs[1]["current"])
	require.Equal(t, "active", vs[1]["drain"])

	r = amber(t, reg, "version", "retire", "ask", "1", "--db", db)
	require.Equal(t, 1, r.code, r.out)
	require.Contains(t, r.err, "ask v1 has tasks in flight")
	r = amber(t, reg, "version", "retire", "ask", "3", "--db", db)
	require.Equal(t, 1, r.code, r.out)
	require.Contains(t, r.err, "current")
	r = amber(t, reg, "version", "retire", "ask", "1", "--force", "--db", db)
	require.Equal(t, 0, r.code, r.err)

	r = amber(t, reg, "version", "log", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "#1 ")
	require.Contains(t, r.out, "set-current ask v3")
	require.Contains(t, r.out, `retire ask v1 {"force":true,"in_flight":2}`)
	require.NotContains(t, r.out, "#3 ", "a refused command logged a change")
}

// TestDeployCommands: deploy check classifies every in-flight task and
// touches nothing; deploy migrate moves the ones that fit, recorded in
// the task; bad input is refused with the program, version and task named.
func TestDeployCommands(t *testing.T) {
	reg := registry3()
	db := fixture(t, reg, "a1", "a2")

	r := amber(t, reg, "deploy", "check", "ask", "--to", "2", "--db", db)
	require.Equal(t, 3, r.code, r.err)
	require.Contains(t, r.out, "diverges at seq 1")
	require.Contains(t, r.out, "ask v2: 2 tasks: 0 fit, 2 diverge, 0 errors")

	r = amber(t, reg, "deploy", "check", "ask", "--to", "3", "--json", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	var check struct {
		Tasks []struct {
			Task string `json:"task"`
			Fits bool   `json:"fits"`
		} `json:"tasks"`
		Fit int `json:"fit"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &check))
	require.Equal(t, 2, check.Fit)
	require.Len(t, check.Tasks, 2)

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", "check", "nope", "--to", "1"}, `program "nope": this binary does not register it`},
		{[]string{"deploy", "check", "ask", "--to", "7"}, "ask v7: unknown version"},
		{[]string{"deploy", "migrate", "ask", "--from", "5", "--to", "3"}, "ask v5: no task in flight"},
		{[]string{"deploy", "migrate", "ask", "--to", "3"}, "give both --from and --to"},
	} {
		r := amber(t, reg, append(bad.args, "--db", db)...)
		require.NotEqual(t, 0, r.code, "%v", bad.args)
		require.Contains(t, r.err, bad.want, "%v", bad.args)
	}

	r = amber(t, reg, "deploy", "migrate", "ask", "--from", "1", "--to", "2", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "stays (drains)")
	require.Contains(t, r.out, "0 moved")

	r = amber(t, reg, "deploy", "migrate", "ask", "--from", "1", "--to", "3", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "moved to v3")
	require.Contains(t, r.out, "2 moved, 0 skipped")

	r = amber(t, reg, "task", "show", "a1", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "program  ask v3")
	require.Contains(t, r.out, "migrated v1 -> v3")
	require.Contains(t, r.out, "needs    a worker with ask v3")

	r = amber(t, reg, "version", "log", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, `migrate ask v3 {"task":"a1","from":1}`)

	// The moved tasks finish on v3.
	st, err := sqlite.Open(db, nil)
	require.NoError(t, err)
	defer st.Close()
	d, err := newWorker(st, reg)
	require.NoError(t, err)
	defer d.Close()
	env, err := reg.EncodeMessage(Raise{By: "ops"})
	require.NoError(t, err)
	require.NoError(t, st.Send(context.Background(), "a1", env))
	waitFor(t, "a1 to finish", func() bool {
		s, _ := st.Status(context.Background(), "a1")
		return s == task.Done
	})
	rec, _, err := st.Load(context.Background(), "a1")
	require.NoError(t, err)
	var out string
	require.NoError(t, task.Unmarshal(rec.Result, &out))
	require.Equal(t, "a1 raised by ops (v3)", out)
}

// newWorker starts a durable worker on st that polls often.
func newWorker(st store.Store, reg *task.Registry) (*interp.Durable, error) {
	return interp.NewDurable(st, interp.WithRegistry(reg),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond}))
}

// TestDeployCorruptJournal: a journal that is corrupt is reported by
// deploy check and deploy migrate with the program, version and task
// named, and that task is left as it was; the others are checked and
// moved.
func TestDeployCorruptJournal(t *testing.T) {
	reg := registry3()
	db := fixture(t, reg, "a1", "a2")
	corruptJournal(t, db, "a2")

	r := amber(t, reg, "deploy", "check", "ask", "--to", "3", "--db", db)
	require.Equal(t, 1, r.code, r.err)
	require.Contains(t, r.err, "task a2 (ask v1)")
	require.Contains(t, r.err, "corrupt")
	require.Contains(t, r.out, "1 fit, 0 diverge, 1 errors")

	r = amber(t, reg, "deploy", "migrate", "ask", "--from", "1", "--to", "3", "--db", db)
	require.Equal(t, 1, r.code, r.err)
	require.Contains(t, r.err, "task a2 (ask v1)")
	require.Contains(t, r.out, "1 moved")
	r = amber(t, reg, "task", "list", "--program", "ask", "--version", "1", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "a2")
	require.NotContains(t, r.out, "a1")
}

// TestTaskShowCorruptJournal: task show of a task whose journal is
// corrupt shows what the listing knows of it (program, version, status,
// journal length) beside the damage, and fails.
func TestTaskShowCorruptJournal(t *testing.T) {
	reg := registry3()
	db := fixture(t, reg, "a1", "a2")
	corruptJournal(t, db, "a2")

	r := amber(t, reg, "task", "show", "a2", "--db", db)
	require.Equal(t, 1, r.code, r.err)
	require.Contains(t, r.out, "program  ask v1")
	require.Contains(t, r.out, "status   waiting")
	require.Contains(t, r.out, "unreadable")
	require.Contains(t, r.err, "corrupt")

	r = amber(t, reg, "task", "show", "a2", "--json", "--db", db)
	require.Equal(t, 1, r.code, r.err)
	var out struct{ Program, Status, Damage string }
	require.NoError(t, json.Unmarshal([]byte(r.out), &out), r.out)
	require.Equal(t, "ask", out.Program)
	require.Contains(t, out.Damage, "corrupt")
}

// corruptJournal overwrites the journal entries of task id in the SQLite
// file db with bytes that are not CBOR.
func corruptJournal(t *testing.T, db, id string) {
	t.Helper()
	raw, err := sql.Open("sqlite", db)
	require.NoError(t, err)
	_, err = raw.Exec(`UPDATE journal SET entry = x'ffff00' WHERE task_id = ?`, id)
	require.NoError(t, err)
	require.NoError(t, raw.Close())
}

// TestDeployProgressCountsMovable: deploy's progress counts only the
// tasks it will check, not those already on the target version.
func TestDeployProgressCountsMovable(t *testing.T) {
	reg := registry3()
	db := fixture(t, reg, "a1", "a2")
	st, err := sqlite.Open(db, nil)
	require.NoError(t, err)
	d, err := newWorker(st, reg)
	require.NoError(t, err)
	_, err = interp.StartProgram(d, ask3, "b1", interp.WithID("b1"), interp.WithVersion(3))
	require.NoError(t, err)
	waitFor(t, "b1 to wait", func() bool {
		s, _ := st.Status(context.Background(), "b1")
		return s == task.Waiting
	})
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())

	r := amber(t, reg, "deploy", "check", "ask", "--to", "3", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "ask v3: 2 tasks: 2 fit")
	require.Contains(t, r.err, "checked 2/2 tasks")
	require.NotContains(t, r.err, "/3 tasks")

	r = amber(t, reg, "deploy", "migrate", "ask", "--from", "1", "--to", "3", "--db", db)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.err, "migrated 2/2 tasks")
}
