package cli_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/pgtest"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/router"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// cliUser is the routed function of the route tests: version 1 returns
// the name, 2 shouts it, debug logs and then calls version 1's code.
var cliUser = router.Define[string, string]("cliUser")

func init() {
	v1 := func(id string) effect.Eff[string] { return effect.Pure("user " + id) }
	router.Register(cliUser, "1", v1)
	router.Register(cliUser, "2", func(id string) effect.Eff[string] { return effect.Pure("USER " + id) })
	router.Register(cliUser, "debug", func(id string) effect.Eff[string] {
		return effect.Seq(effect.Log(slog.LevelInfo, "debug: looking up", "id", id), v1(id))
	})
}

// greet calls cliUser, then waits for a message.
var greet = effect.NewProgram("greet", 1, func(id string) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		u := router.Call(e, cliUser, id)
		r := effect.Await(e, effect.Receive[Raise]())
		return u + " raised by " + r.By
	})
})

// TestRouteCommands: set, show, list, history, bad input that changes
// nothing, a shadow's divergences read back, and a replay with a task's
// route override.
func TestRouteCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "amber.db")
	reg := registry()
	require.NoError(t, task.Register(reg, greet))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	st, err := sqlite.Open(db, nil)
	require.NoError(t, err)
	table, err := router.NewStoreTable(st)
	require.NoError(t, err)
	rt := router.NewRouter(table, router.Options{Sink: router.StoreSink{S: table.S}})
	wctx, stop := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); rt.Watch(wctx, 5*time.Millisecond, nil) }()
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithRoutes(rt), interp.WithLogger(slog.New(slog.DiscardHandler)),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond}))
	require.NoError(t, err)
	defer func() { stop(); <-watched; d.Close(); st.Close() }()

	// Step 1: shadow 2 beside 1, from the command line, beside the worker.
	r := amber(t, reg, "--db", db, "route", "set", "cliUser", "--shadow", "--primary", "1", "--candidate", "2", "--why", "try 2")
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "shadow    candidate 2, sampling 1")
	poll.Eventually(t, func() (bool, error) { return rt.Decide("x", "cliUser").Shadow == "2", nil }, "the worker follows the shadow route")

	h, err := interp.StartProgram(d, greet, "ann", interp.WithID("g1"))
	require.NoError(t, err)
	poll.Eventually(t, func() (bool, error) { s, err := st.Status(ctx, h.ID()); return s == task.Waiting, err }, "g1 waits")
	rt.Wait()

	r = amber(t, reg, "--db", db, "route", "divergences", "cliUser")
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "cliUser: 1 divergent calls (0 of them noise")
	require.Contains(t, r.out, `primary   (v1): "user ann"`)
	require.Contains(t, r.out, `candidate (v2): "USER ann"`)

	// Bad input: a clear error, exit 2, nothing changed.
	for _, bad := range [][]string{
		{"route", "set", "nope", "--primary", "1"},
		{"route", "set", "cliUser", "--primary", "7"},
		{"route", "set", "cliUser", "--percent", "2=150"},
		{"route", "set", "cliUser", "--percent", "2"},
		{"route", "set", "cliUser", "--task", "missing", "--version", "debug"},
		{"route", "set", "cliUser", "--task", "g1", "--version", "9"},
		{"route", "set", "cliUser", "--shadow"},
		{"route", "set", "cliUser"},
	} {
		r := amber(t, reg, append([]string{"--db", db}, bad...)...)
		require.Equal(t, 2, r.code, "%v: %s%s", bad, r.out, r.err)
		t.Logf("%v: %s", bad, strings.TrimSpace(r.err))
	}
	hist, err := table.S.RouteHistory(ctx, "cliUser")
	require.NoError(t, err)
	require.Len(t, hist, 1, "a refused change changed the history")

	// --force accepts an unknown version, shown as unroutable.
	r = amber(t, reg, "--db", db, "route", "set", "cliUser", "--percent", "7=5", "--force")
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "UNROUTABLE")
	r = amber(t, reg, "--db", db, "route", "set", "cliUser", "--percent", "7=0", "--percent", "2=10")
	require.Equal(t, 0, r.code, r.err)

	// Step 5: the task's route override, honoured by replay.
	r = amber(t, reg, "--db", db, "route", "set", "cliUser", "--task", "g1", "--version", "debug")
	require.Equal(t, 0, r.code, r.err)
	r = amber(t, reg, "--db", db, "task", "replay", "g1")
	require.Equal(t, 0, r.code, r.out+r.err)
	require.Contains(t, r.out, "with the task's routes cliUser=debug")
	require.Contains(t, r.out, "cliUser ran version debug in a sandbox")
	require.Contains(t, r.out, `debug: looking up`)

	r = amber(t, reg, "--db", db, "route", "show", "cliUser")
	require.Equal(t, 0, r.code, r.err)
	for _, want := range []string{"versions debug, 1, 2", "primary   1", "percent   2=10%", "task      g1 -> debug", "divergences 1"} {
		require.Contains(t, r.out, want)
	}
	r = amber(t, reg, "--db", db, "route", "list")
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "cliUser")
	r = amber(t, reg, "--db", db, "route", "history", "cliUser")
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "why: try 2")
	require.Equal(t, 4, strings.Count(r.out, "\n#")+1, r.out)
}

// TestRoutePostgres: the route commands on PostgreSQL (a fresh schema).
func TestRoutePostgres(t *testing.T) {
	url, schema := pgtest.Schema(t, "amber_cli_route")
	st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema})
	require.NoError(t, err)
	defer st.Close()
	pg := []string{"--postgres", url, "--schema", schema}
	r := amber(t, registry(), append([]string{"route", "set", "cliUser", "--percent", "2=25"}, pg...)...)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "percent   2=25%")
	r = amber(t, registry(), append([]string{"route", "set", "cliUser", "--percent", "2=101"}, pg...)...)
	require.Equal(t, 2, r.code, r.out)
	r = amber(t, registry(), append([]string{"route", "history", "cliUser", "--json"}, pg...)...)
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, 1, strings.Count(r.out, `"seq"`), r.out)
	table, err := router.NewStoreTable(st)
	require.NoError(t, err)
	p, _, ok, err := table.Get(context.Background(), "cliUser")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, router.Policy{Primary: "1", Percent: map[string]int{"2": 25}}, p)
}
