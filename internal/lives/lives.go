// Package lives runs one program in each of its lives (the Mock, Live and
// Durable interpreters, the last over a fresh SQLite file) and replays
// each journal, for the tests of the stdlib packages: the same program
// must give the same result and the same journal everywhere, and a replay
// must perform nothing.
package lives

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// Case is a program and what its lives need.
type Case[I, O any] struct {
	// Program runs on Input in every life.
	Program *effect.Program[I, O]
	Input   I
	// Handlers are installed in every interpreter.
	Handlers []effect.Handler
	// Registry, if not nil, is used (Program is added to it if it is not
	// there yet); it must hold the programs the case spawns.
	Registry *task.Registry
	// Varies lists the op kinds whose results depend on the interpreter
	// (the clock, randomness): their results are compared only between a
	// life and its own replay. The output of a case with such ops is
	// compared the same way.
	Varies []string
	// Unordered says that the program runs ops concurrently (effect.Par,
	// coll.ParMap): the order of its journal depends on the interpreter,
	// so journals of different lives are compared as sets of entries.
	Unordered bool
	// Performed, if set, counts what the program did to the outside world
	// (requests served, queries run): the replays must leave it unchanged.
	Performed func() int
	// Timeout bounds each life (default 20s).
	Timeout time.Duration
}

// Outcome is one life's result and journal.
type Outcome[O any] struct {
	// Life names the interpreter: mock, live or durable.
	Life string
	// Result and Err are the program's outcome.
	Result O
	Err    error
	// Journal is the life's journal.
	Journal task.Journal
}

// Check runs c under the Mock, Live and Durable (SQLite) interpreters,
// then replays each journal, and reports on t every difference: between a
// life and its replay (result, error, journal), and between lives (the
// error text, the op kinds and fingerprints, and the results of ops not
// listed in Varies). It returns the outcomes, Mock first.
func Check[I, O any](t *testing.T, c Case[I, O]) []Outcome[O] {
	t.Helper()
	reg := c.Registry
	if reg == nil {
		reg = task.NewRegistry()
	}
	if _, err := reg.Program(c.Program.Name, c.Program.Version); err != nil {
		if err := task.Register(reg, c.Program); err != nil {
			t.Fatalf("lives: %v", err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	hs, rg, lg := interp.WithHandlers(c.Handlers...), interp.WithRegistry(reg), interp.WithLogger(quiet)
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}

	var outs []Outcome[O]
	run := func(life string, rt interp.Runtime) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		tk, err := interp.StartProgram(rt, c.Program, c.Input)
		if err != nil {
			t.Fatalf("lives: %s: start: %v", life, err)
		}
		v, err := tk.Wait(ctx)
		if ctx.Err() != nil {
			t.Fatalf("lives: %s: task %s did not finish within %v", life, tk.ID(), timeout)
		}
		o := Outcome[O]{Life: life, Result: v, Err: err}
		if o.Journal, err = tk.Journal(); err != nil {
			t.Fatalf("lives: %s: journal of task %s: %v", life, tk.ID(), err)
		}
		outs = append(outs, o)
	}

	run("mock", interp.NewMock(hs, rg, lg))

	live := interp.NewLive(hs, rg, lg, interp.WithJournal())
	run("live", live)
	_ = live.Close()

	st, err := sqlite.Open(filepath.Join(t.TempDir(), "lives.db"), nil)
	if err != nil {
		t.Fatalf("lives: %v", err)
	}
	defer st.Close()
	d, err := interp.NewDurable(st, hs, rg, lg, interp.WithWorkers(4), interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond}))
	if err != nil {
		t.Fatalf("lives: %v", err)
	}
	run("durable", d)
	_ = d.Close()

	before := 0
	if c.Performed != nil {
		before = c.Performed()
	}
	for _, o := range outs {
		r, err := interp.Replay(context.Background(), c.Program, c.Input, o.Journal, rg)
		if err != nil {
			t.Errorf("lives: replay of the %s journal: %v", o.Life, err)
			continue
		}
		if !r.Done {
			t.Errorf("lives: replay of the %s journal did not finish (pending %v)", o.Life, r.Pending)
			continue
		}
		got, _ := r.Result.(O)
		if !reflect.DeepEqual(got, o.Result) {
			t.Errorf("lives: replay of the %s journal yields %#v, the %s life yielded %#v", o.Life, got, o.Life, o.Result)
		}
		if errText(r.Err) != errText(o.Err) {
			t.Errorf("lives: replay of the %s journal fails with %q, the %s life with %q", o.Life, errText(r.Err), o.Life, errText(o.Err))
		}
		if diff := diffJournals(o.Journal, r.Journal, nil); diff != "" {
			t.Errorf("lives: replay of the %s journal recorded another journal: %s", o.Life, diff)
		}
	}
	if c.Performed != nil {
		if after := c.Performed(); after != before {
			t.Errorf("lives: the replays performed %d operations on the outside world; want none", after-before)
		}
	}

	first := outs[0]
	for _, o := range outs[1:] {
		if len(c.Varies) == 0 && !reflect.DeepEqual(o.Result, first.Result) {
			t.Errorf("lives: %s yields %#v, %s %#v", o.Life, o.Result, first.Life, first.Result)
		}
		if errText(o.Err) != errText(first.Err) {
			t.Errorf("lives: %s fails with %q, %s with %q", o.Life, errText(o.Err), first.Life, errText(first.Err))
		}
		a, b := first.Journal, o.Journal
		if c.Unordered {
			a, b = sorted(a), sorted(b)
		}
		if diff := diffJournals(a, b, c.Varies); diff != "" {
			t.Errorf("lives: the %s and %s journals differ: %s", first.Life, o.Life, diff)
		}
	}
	return outs
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// diffJournals describes the first difference between a and b: op kinds,
// fingerprints, errors, and results of the kinds not in varies.
func diffJournals(a, b task.Journal, varies []string) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d entries against %d:\n%s\nagainst\n%s", len(a), len(b), render(a), render(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		switch {
		case x.Kind != y.Kind || x.Fingerprint != y.Fingerprint:
			return fmt.Sprintf("entry %d: %s against %s", i+1, x, y)
		case errMsg(x) != errMsg(y):
			return fmt.Sprintf("entry %d: %s against %s", i+1, x, y)
		case !slices.Contains(varies, x.Kind) && !bytes.Equal(x.Result, y.Result):
			return fmt.Sprintf("entry %d: %s against %s", i+1, x, y)
		}
	}
	return ""
}

// sorted returns the entries of j ordered by kind, fingerprint and result,
// renumbered, without their fibers.
func sorted(j task.Journal) task.Journal {
	out := slices.Clone(j)
	slices.SortStableFunc(out, func(a, b task.Entry) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Fingerprint, b.Fingerprint), bytes.Compare(a.Result, b.Result))
	})
	for i := range out {
		out[i].Seq, out[i].Fiber = uint64(i+1), 0
	}
	return out
}

func errMsg(e task.Entry) string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Msg
}

func render(j task.Journal) string {
	var b bytes.Buffer
	for _, e := range j {
		fmt.Fprintf(&b, "\t%s\n", e)
	}
	return b.String()
}
