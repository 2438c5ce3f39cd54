// Command supervisor runs a pool of workers under a one_for_one
// supervisor on the live interpreter. A worker crashes on bad input and
// is restarted with a clean state; too many crashes in a short time make
// the supervisor give up and escalate, as in Erlang/OTP.
//
//	go run ./examples/supervisor
//
// counter.go holds a second, smaller service, whose property test (go
// test ./examples/supervisor) uses the deterministic simulator to find a
// lost update in a naive version and passes on the fixed one.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/supervise"
)

// Job asks a worker to square N; a negative N is bad input.
type Job struct {
	N       int
	ReplyTo string
}

// Result is a worker's answer.
type Result struct {
	Worker string
	Square int
}

// worker takes its name, then squares numbers until it gets bad input
// and crashes.
var worker = effect.NewProgram("worker", 1, func(name string) effect.Eff[effect.Unit] {
	return effect.Do(func(e *effect.Ctx) effect.Unit {
		effect.Await(e, effect.TakeName(name))
		for {
			job := effect.Await(e, effect.Receive[Job]())
			if job.N < 0 {
				panic(fmt.Sprintf("bad input %d", job.N))
			}
			effect.Await(e, effect.Send(effect.PID[Result]{ID: job.ReplyTo}, Result{Worker: name, Square: job.N * job.N}))
		}
	})
})

// pool is the supervision tree: three workers, one_for_one, at most three
// restarts a second.
func pool() supervise.Spec {
	spec := supervise.Spec{Strategy: supervise.OneForOne, Intensity: 3, Period: time.Second}
	for _, name := range []string{"w1", "w2", "w3"} {
		spec.Children = append(spec.Children, supervise.Child{Name: name, Start: supervise.Worker(worker), Input: name, Restart: supervise.Permanent})
	}
	return spec
}

// ask sends a job to the worker named name (waiting for it to take the
// name, while it restarts) and, unless the input is bad, returns
// the answer.
func ask(name string, n int) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		self := effect.Await(e, effect.Self[Result]())
		var to string
		for tries := 0; to == ""; tries++ {
			if w := effect.Await(e, effect.WhereIs(name)); w.OK {
				to = w.Value
			} else if tries == 200 {
				return "no worker is named " + name
			} else {
				e.Sleep(time.Millisecond)
			}
		}
		effect.Await(e, effect.Send(effect.PID[Job]{ID: to}, Job{N: n, ReplyTo: self.ID}))
		if n < 0 {
			return fmt.Sprintf("%s (task %s) got bad input %d", name, to, n)
		}
		r := effect.Await(e, effect.Receive[Result]())
		return fmt.Sprintf("%s (task %s): %d² = %d", r.Worker, to, n, r.Square)
	})
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "supervisor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	live := interp.NewLive(interp.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer live.Close()
	sup, err := interp.Start(live, supervise.Supervisor(pool()))
	if err != nil {
		return err
	}
	say := func(p effect.Eff[string]) error {
		s, err := interp.Run(ctx, live, p)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, s)
		return nil
	}
	for i, name := range []string{"w1", "w2", "w3"} {
		if err := say(ask(name, i+2)); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "-- w2 crashes on bad input and is restarted:")
	if err := say(ask("w2", -1)); err != nil {
		return err
	}
	time.Sleep(20 * time.Millisecond)
	if err := say(ask("w2", 7)); err != nil {
		return err
	}
	fmt.Fprintln(out, "-- w1 crashes again and again: the supervisor gives up")
	for range 4 {
		if err := say(ask("w1", -1)); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err = sup.Wait(ctx)
	if !errors.Is(err, supervise.ErrIntensity) {
		return fmt.Errorf("the supervisor should have escalated, got %v", err)
	}
	fmt.Fprintf(out, "supervisor ended: %v\n", err)
	return nil
}
