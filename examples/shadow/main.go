// Command shadow runs the router's scenario end to end, durably on SQLite:
// a request handler calls versioned functions; version 2 of one of them is
// shadowed on live traffic, rolled out to 10 % of tasks, made primary and
// rolled back, all with amber route commands and no code change; and a
// failed request is debugged by replaying it with one function swapped for
// a debug version.
//
//	go run ./examples/shadow
//
// Every amber command it runs is printed with its output: they are the
// commands of this binary's own amber (cli.Main with its registry), run
// beside the worker.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/amberrt/amber/cli"
	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/router"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// User is a user record.
type User struct {
	// ID and Name identify the user.
	ID, Name string
}

// Request asks for a user's page.
type Request struct {
	// UserID is the user whose page is asked for.
	UserID string
}

// users is the fake user database; bob's name has a trailing space.
var users = map[string]string{"ann": "Ann", "bob": "Bob ", "cy": "Cy"}

// GetUser reads a user from the database (an activity).
type GetUser struct {
	effect.Returns[User]
	// ID is the user's.
	ID string
}

// ErrNoUser is the failure of GetUser for an unknown user.
var ErrNoUser = errors.New("no such user")

// Run reads the user.
func (g GetUser) Run(context.Context) (User, error) {
	name, ok := users[g.ID]
	if !ok {
		return User{}, fmt.Errorf("%w: %q", ErrNoUser, g.ID)
	}
	return User{ID: g.ID, Name: name}, nil
}

// ListItems lists a user's items (an activity).
type ListItems struct {
	effect.Returns[[]string]
	// UserID is the user's.
	UserID string
}

// Run lists the items.
func (l ListItems) Run(context.Context) ([]string, error) {
	return []string{l.UserID + "-book", l.UserID + "-lamp"}, nil
}

// The versioned functions.
var (
	// LookupUser finds a request's user.
	LookupUser = router.Define[string, User]("lookupUser")
	// ListUserItems lists a user's items.
	ListUserItems = router.Define[string, []string]("listItems")
)

func lookupUserV1(id string) effect.Eff[User] { return effect.Perform(GetUser{ID: id}) }

func init() {
	// Step 1: version 1 of everything.
	router.Register(LookupUser, "1", lookupUserV1)
	router.Register(ListUserItems, "1", func(id string) effect.Eff[[]string] { return effect.Perform(ListItems{UserID: id}) })
	// Step 2: the developer's version 2 logs, then calls version 1, and
	// trims the name (which changes bob's page: the shadow will say so).
	router.Register(LookupUser, "2", func(id string) effect.Eff[User] {
		return effect.Do(func(e *effect.Ctx) User {
			e.Log(slog.LevelInfo, "lookupUser v2", "id", id)
			u := effect.Await(e, lookupUserV1(id))
			u.Name = strings.TrimSpace(u.Name)
			return u
		})
	})
	// The debug version of step 5: it logs what it asks and what it gets.
	router.Register(LookupUser, "debug", func(id string) effect.Eff[User] {
		return effect.DoErr(func(e *effect.Ctx) (User, error) {
			e.Log(slog.LevelInfo, "debug: looking up", "id", id)
			u, err := effect.Try(e, lookupUserV1(id))
			e.Log(slog.LevelInfo, "debug: database said", "user", u.Name, "err", fmt.Sprint(err))
			return u, err
		})
	})
}

// handleRequest is the program every request runs.
var handleRequest = effect.NewProgram("handleRequest", 1, func(req Request) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		user := router.Call(e, LookupUser, req.UserID)
		items := router.Call(e, ListUserItems, user.ID)
		return render(user, items)
	})
})

func render(u User, items []string) string {
	return fmt.Sprintf("<h1>%s</h1> %s", u.Name, strings.Join(items, ", "))
}

// Registry is the program's registry.
func Registry() *task.Registry {
	r := task.NewRegistry()
	if err := task.Register(r, handleRequest); err != nil {
		panic(err)
	}
	if err := task.RegisterError(r, "shadow.ErrNoUser", ErrNoUser); err != nil {
		panic(err)
	}
	return r
}

func main() {
	dir, err := os.MkdirTemp("", "amber-shadow")
	if err != nil {
		fmt.Fprintln(os.Stderr, "shadow:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	if _, err := run(context.Background(), filepath.Join(dir, "amber.db"), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "shadow:", err)
		os.Exit(1)
	}
}

// report is what the scenario saw, for its test.
type report struct {
	Divergent, Noise int    // step 3
	Percent          int    // step 4: tasks of 200 on version 2
	Promoted, Back   string // step 4: the versions after --primary 2 and 1
	Failed           string // step 5: the failed request's task
	Replay, Debug    string // step 5: the outputs of both replays
	Shadows          router.Stats
}

func run(ctx context.Context, db string, out io.Writer) (*report, error) {
	rep := &report{}
	reg := Registry()
	st, err := sqlite.Open(db, nil)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	table, err := router.NewStoreTable(st)
	if err != nil {
		return nil, err
	}
	rt := router.NewRouter(table, router.Options{Sink: router.StoreSink{S: table.S}, Shadows: 64})
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); _ = rt.Watch(wctx, 20*time.Millisecond, nil) }()
	defer func() { stopWatch(); <-watched }()
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithRoutes(rt),
		interp.WithLogger(slog.New(slog.DiscardHandler)),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 20 * time.Millisecond}))
	if err != nil {
		return nil, err
	}
	defer d.Close()

	amber := func(args ...string) (string, error) {
		var buf bytes.Buffer
		fmt.Fprintf(out, "$ amber %s\n", strings.Join(args, " "))
		code := cli.Main(append([]string{"--db", db}, args...), reg, &buf, &buf)
		fmt.Fprint(out, indent(buf.String()))
		if code != cli.ExitOK {
			return buf.String(), fmt.Errorf("amber %s: exit %d", strings.Join(args, " "), code)
		}
		return buf.String(), nil
	}
	// follow waits until the worker's router has the route the CLI set.
	follow := func(ok func(router.Policy) bool) error {
		return poll.Until(ctx, func() (bool, error) {
			p, _ := rt.Policy("lookupUser")
			return ok(p), nil
		})
	}
	n := 0
	// serve runs requests as tasks and returns, per task, the version
	// its lookupUser call ran (from its journal) and its outcome.
	serve := func(who ...string) (map[string]string, error) {
		versions := map[string]string{}
		var hs []*interp.Handle[string]
		for _, u := range who {
			n++
			h, err := interp.StartProgram(d, handleRequest, Request{UserID: u}, interp.WithID(fmt.Sprintf("req-%04d", n)))
			if err != nil {
				return nil, err
			}
			hs = append(hs, h)
		}
		for _, h := range hs {
			if _, err := h.Wait(ctx); err != nil && !errors.Is(err, ErrNoUser) {
				return nil, fmt.Errorf("%s: %w", h.ID(), err)
			}
			rec, _, err := st.Load(ctx, h.ID())
			if err != nil {
				return nil, err
			}
			versions[h.ID()] = routedVersion(rec.Journal, "lookupUser")
		}
		return versions, nil
	}
	count := func(vs map[string]string, v string) int {
		k := 0
		for _, x := range vs {
			if x == v {
				k++
			}
		}
		return k
	}
	traffic := func(k int) []string {
		var who []string
		for i := range k {
			who = append(who, []string{"ann", "bob", "cy"}[i%3])
		}
		return who
	}

	fmt.Fprintln(out, "1. version 1 serves requests")
	vs, err := serve(traffic(6)...)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "   %d requests, %d on lookupUser v1\n", len(vs), count(vs, "1"))

	fmt.Fprintln(out, "2. lookupUser v2 is registered: nothing routes to it yet")
	if _, err := amber("route", "show", "lookupUser"); err != nil {
		return nil, err
	}

	fmt.Fprintln(out, "3. shadow v2 beside v1 on live traffic")
	if _, err := amber("route", "set", "lookupUser", "--shadow", "--primary", "1", "--candidate", "2"); err != nil {
		return nil, err
	}
	if err := follow(func(p router.Policy) bool { return p.Shadow != nil }); err != nil {
		return nil, err
	}
	if vs, err = serve(traffic(9)...); err != nil {
		return nil, err
	}
	rt.Wait()
	fmt.Fprintf(out, "   %d requests, %d on v1 (v2 ran beside each in a sandbox)\n", len(vs), count(vs, "1"))
	if _, err := amber("route", "divergences", "lookupUser", "--limit", "1"); err != nil {
		return nil, err
	}
	_, rep.Divergent, rep.Noise, err = table.S.Divergences(ctx, "lookupUser", 0)
	if err != nil {
		return nil, err
	}

	fmt.Fprintln(out, "4. 10 % of tasks to v2 (sticky by task ID), then v2 primary, then rollback")
	if _, err := amber("route", "set", "lookupUser", "--percent", "2=10"); err != nil {
		return nil, err
	}
	if err := follow(func(p router.Policy) bool { return p.Percent["2"] == 10 }); err != nil {
		return nil, err
	}
	if vs, err = serve(traffic(200)...); err != nil {
		return nil, err
	}
	rep.Percent = count(vs, "2")
	fmt.Fprintf(out, "   200 requests: %d on v2, %d on v1\n", rep.Percent, count(vs, "1"))
	for _, step := range []struct {
		version string
		into    *string
	}{{"2", &rep.Promoted}, {"1", &rep.Back}} {
		if _, err := amber("route", "set", "lookupUser", "--primary", step.version, "--percent", "2=0", "--no-shadow"); err != nil {
			return nil, err
		}
		if err := follow(func(p router.Policy) bool { return p.Primary == step.version && p.Shadow == nil }); err != nil {
			return nil, err
		}
		if vs, err = serve(traffic(6)...); err != nil {
			return nil, err
		}
		*step.into = onlyVersion(vs)
		fmt.Fprintf(out, "   primary %s: 6 requests on v%s\n", step.version, *step.into)
	}

	fmt.Fprintln(out, "5. a request fails in production; replay it, then replay it with lookupUser swapped for debug")
	if vs, err = serve("ghost"); err != nil {
		return nil, err
	}
	for id := range vs {
		rep.Failed = id
	}
	rep.Replay, _ = amber("task", "replay", rep.Failed)
	if _, err := amber("route", "set", "lookupUser", "--task", rep.Failed, "--version", "debug"); err != nil {
		return nil, err
	}
	rep.Debug, _ = amber("task", "replay", rep.Failed)
	if _, err := amber("route", "history", "lookupUser"); err != nil {
		return nil, err
	}
	rep.Shadows = rt.Stats("lookupUser")
	return rep, nil
}

// routedVersion returns the version a journal's first call of function
// ran ("" if it made none).
func routedVersion(j task.Journal, function string) string {
	for _, en := range j {
		if en.Kind != task.OpKind(interp.RouteOp{}) || !strings.Contains(task.Render(en.Op), `"`+function+`"`) {
			continue
		}
		var r struct{ Version string }
		if task.Unmarshal(en.Result, &r) == nil {
			return r.Version
		}
	}
	return ""
}

// onlyVersion returns the version every task ran, or "mixed".
func onlyVersion(vs map[string]string) string {
	v := ""
	for _, x := range vs {
		if v != "" && x != v {
			return "mixed"
		}
		v = x
	}
	return v
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}
