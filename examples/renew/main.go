// Command renew walks through changing the code of durable tasks safely
// (the README's "Changing code safely"): a same-version edit that parks
// only the tasks it no longer fits, versions pinned and made current,
// a deploy check and a migration, a patch.
//
// It is a user's own amber command (cli.Main with its registry: every
// amber command works, with the programs and messages below) plus one
// command of its own, worker, which runs a durable worker until every
// task is settled: waiting for a message, finished, or diverged.
//
//	go run ./examples/renew worker --start 6
//	go run ./examples/renew task list
//
// RENEW_BUILD selects the build, as if the code had been edited and built
// again: "1" (the default: renew v1), "edited" (v1 with a log line added
// before its quote, without a new version), "2" (v1 and v2, which has the
// log line), "3" (v1 and v3, the log line behind a patch).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/amberrt/amber/cli"
	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// Quote asks the billing system for a customer's renewal price.
type Quote struct {
	effect.Returns[int]
	// Customer is the customer's number.
	Customer int
}

// Run quotes a price.
func (q Quote) Run(context.Context) (int, error) { return 100 + q.Customer, nil }

// Renewal is the customer's yes.
type Renewal struct {
	// By names who renewed.
	By string
}

// Renew is version v of the renewal of customer n's subscription: it
// quotes a price, waits for the customer's yes, and renews. check says
// how it logs a card check before the quote in even tasks: "" not at all
// (version 1 as first written), "always" (the edit), "patched" (the edit
// behind effect.Patched).
func Renew(v int, check string) *effect.Program[int, string] {
	return effect.NewProgram("renew", v, func(n int) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			switch {
			case check == "always" && n%2 == 0:
				e.Log(slog.LevelInfo, "checking the card")
			case check == "patched" && e.Patched("card-check") && n%2 == 0:
				e.Log(slog.LevelInfo, "checking the card")
			}
			price := effect.Call(e, Quote{Customer: n})
			r := effect.Await(e, effect.Receive[Renewal]())
			return fmt.Sprintf("customer %d renewed at %d by %s (v%d)", n, price, r.By, v)
		})
	})
}

// Registry returns the registry of a build (see RENEW_BUILD).
func Registry(build string) (*task.Registry, error) {
	reg := task.NewRegistry()
	var progs []*effect.Program[int, string]
	switch build {
	case "", "1":
		progs = append(progs, Renew(1, ""))
	case "edited":
		progs = append(progs, Renew(1, "always"))
	case "2":
		progs = append(progs, Renew(1, ""), Renew(2, "always"))
	case "3":
		progs = append(progs, Renew(1, ""), Renew(3, "patched"))
	default:
		return nil, fmt.Errorf("RENEW_BUILD=%q: want 1, edited, 2 or 3", build)
	}
	for _, p := range progs {
		if err := task.Register(reg, p); err != nil {
			return nil, err
		}
	}
	return reg, task.RegisterMessage[Renewal](reg, "renew.Renewal")
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv("RENEW_BUILD"), os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, build string, stdout, stderr io.Writer) int {
	reg, err := Registry(build)
	if err != nil {
		fmt.Fprintln(stderr, "renew:", err)
		return 2
	}
	if len(args) == 0 || args[0] != "worker" {
		return cli.Main(args, reg, stdout, stderr)
	}
	if err := worker(ctx, args[1:], reg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "renew:", err)
		return 1
	}
	return 0
}

// worker runs a durable worker of the build until every task is settled,
// after starting --start new tasks and sending --renew-all's renewal to
// every task that waits for one.
func worker(ctx context.Context, args []string, reg *task.Registry, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "./amber.db", "SQLite store file")
	pg := fs.String("postgres", "", "PostgreSQL store URL (instead of --db)")
	start := fs.Int("start", 0, "start this many new tasks (renew-0, renew-1, ...) on the current version")
	renewAll := fs.String("renew-all", "", "send every waiting task a Renewal by this name")
	forever := fs.Bool("forever", false, "run until interrupted instead of until every task is settled")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var st store.Store
	var err error
	if *pg != "" {
		st, err = postgres.Open(ctx, *pg, nil)
	} else {
		st, err = sqlite.Open(*db, nil)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	// The diverged tasks this build may fit: the worker tries each once
	// (it commits a step, fitting or diverging again) before it settles.
	diverged := map[string]uint64{}
	aside, err := st.List(ctx, store.Filter{Program: "renew", Status: task.Diverged})
	if err != nil {
		return err
	}
	for _, s := range aside {
		if _, err := reg.Program(s.Program, s.Version); err == nil {
			diverged[s.ID] = s.Steps
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(logger),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 20 * time.Millisecond}))
	if err != nil {
		return err
	}
	defer d.Close()
	existing, err := st.List(ctx, store.Filter{Program: "renew"})
	if err != nil {
		return err
	}
	for i := range *start {
		id := fmt.Sprintf("renew-%d", len(existing)+i)
		if _, err := interp.StartProgram(d, Renew(1, ""), len(existing)+i, interp.WithID(id)); err != nil {
			return err
		}
	}
	if *renewAll != "" {
		env, err := reg.EncodeMessage(Renewal{By: *renewAll})
		if err != nil {
			return err
		}
		waiting, err := st.List(ctx, store.Filter{Program: "renew", Status: task.Waiting})
		if err != nil {
			return err
		}
		for _, s := range waiting {
			if err := st.Send(ctx, s.ID, env); err != nil {
				return err
			}
		}
	}
	if *forever {
		<-ctx.Done()
		return nil
	}
	// Settled: nothing running, no message unread by a task that can read
	// it, and every diverged task this build has tried once since it
	// started (a diverged task keeps its messages until it fits).
	err = poll.Until(ctx, func() (bool, error) {
		all, err := st.List(ctx, store.Filter{Program: "renew"})
		if err != nil {
			return false, err
		}
		for _, s := range all {
			if s.Status == task.Running || s.Status == task.Waiting && (s.Pending > 0 || s.Wait == nil || s.Wait.Kind != task.WaitReceive) ||
				s.Status == task.Diverged && s.Steps == diverged[s.ID] {
				if _, err := reg.Program(s.Program, s.Version); err == nil {
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	counts, err := st.Counts(ctx, store.Filter{Program: "renew"})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "settled: %d waiting, %d done, %d diverged\n", counts[task.Waiting], counts[task.Done], counts[task.Diverged])
	return nil
}
