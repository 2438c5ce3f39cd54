// Command quickstart runs a small amber program live, then replays it from
// the journal the live run recorded, and prints both results and the
// journal. The program logs, sleeps, messages another task and reads and
// writes shared state.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/task"
)

// Hello asks the greeter for a greeting; Greeting is its answer.
type Hello struct {
	From string
	Name string
}

// Greeting is the greeter's answer.
type Greeting struct{ Text string }

// visits is shared state: every run of the program counts itself here.
var visits = stm.NewVar(0)

// greeter answers one Hello. It is written in tree style.
var greeter = effect.NewProgram("greeter", 1, func(effect.Unit) effect.Eff[effect.Unit] {
	return effect.Then(effect.Receive[Hello](), func(h Hello) effect.Eff[effect.Unit] {
		return effect.Send(effect.PID[Greeting]{ID: h.From}, Greeting{Text: "hello, " + h.Name})
	})
})

// welcome is the main program, written in direct style: it reads like
// ordinary Go, and each effect is a call.
var welcome = effect.NewProgram("welcome", 1, func(name string) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		e.Log(slog.LevelInfo, "welcome started", "name", name)
		self := effect.Await(e, effect.Self[Greeting]())
		g := effect.Await(e, effect.Spawn[Hello](greeter, effect.Unit{}))
		effect.Await(e, effect.Send(g, Hello{From: self.ID, Name: name}))
		greeting := effect.Await(e, effect.Receive[Greeting]())
		e.Sleep(50 * time.Millisecond)
		n := effect.Await(e, effect.Atomically(func(tx *stm.Tx) (int, error) {
			n := visits.Get(tx) + 1
			visits.Set(tx, n)
			return n, nil
		}))
		return fmt.Sprintf("%s (visit #%d)", greeting.Text, n)
	})
})

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	reg := task.NewRegistry()
	if err := task.Register(reg, welcome); err != nil {
		return err
	}
	if err := task.Register(reg, greeter); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))

	live := interp.NewLive(interp.WithRegistry(reg), interp.WithJournal(), interp.WithLogger(logger))
	defer live.Close()
	t, err := interp.StartProgram(live, welcome, "ann")
	if err != nil {
		return err
	}
	result, err := t.Wait(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "live result:   %v\n", result)

	// Replay performs nothing: no log line, no message, no sleep, and the
	// shared counter is not touched again. It feeds the recorded results.
	journal, err := t.Journal()
	if err != nil {
		return err
	}
	r, err := interp.Replay(ctx, welcome, "ann", journal, interp.WithRegistry(reg))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "replay result: %v\n", r.Result)
	fmt.Fprintf(out, "visits after replay: %d\n", visits.Load())
	fmt.Fprintln(out, "journal:")
	for _, en := range journal {
		fmt.Fprintln(out, " ", en)
	}
	return nil
}
