// Command versionworker is the subject of the version tests: a durable
// amber worker built with some versions of the program renew, run as a
// real process beside others built with other versions, killed with
// SIGKILL, and started again with edited code. See crashtest.
//
// renew calls an activity (which answers with the worker's name,
// $AMBER_WORKER), waits for a string message, calls the activity again
// and returns "v<version> <first worker> <second worker> <message>".
// Version 2 fits version 1's journals. With -edited, version 1 logs a
// line before its first activity in tasks of even inputs (a same-version
// edit): the even tasks that recorded that activity no longer fit.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/crashtest/job"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
)

// Where answers with the name of the worker that runs it.
type Where struct {
	effect.Returns[string]
	// Step numbers the call within the task.
	Step int
}

// Run returns $AMBER_WORKER.
func (Where) Run(context.Context) (string, error) { return os.Getenv("AMBER_WORKER"), nil }

// Renew is version v of renew (edited: see the package documentation).
func Renew(v int, edited bool) *effect.Program[int, string] {
	return effect.NewProgram("renew", v, func(n int) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			if edited && n%2 == 0 {
				e.Log(slog.LevelInfo, "renewing")
			}
			first := effect.Call(e, Where{Step: 1})
			msg := effect.Await(e, effect.Receive[string]())
			second := effect.Call(e, Where{Step: 2})
			return fmt.Sprintf("v%d %s %s %s", v, first, second, msg)
		})
	})
}

func main() {
	db := flag.String("db", "", "SQLite file")
	pg := flag.String("postgres", "", "PostgreSQL URL")
	schema := flag.String("schema", "amber", "PostgreSQL schema")
	versions := flag.String("versions", "1", "comma-separated versions of renew to register")
	edited := flag.Bool("edited", false, "version 1 logs a line before its first activity in even tasks")
	start := flag.Int("start", 0, "tasks to start (PREFIX-0, PREFIX-1, ...) on the current version")
	prefix := flag.String("prefix", "renew", "the prefix of the IDs of the tasks started")
	flag.Parse()
	if err := run(*db, *pg, *schema, *versions, *edited, *start, *prefix); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(db, pg, schema, versions string, edited bool, start int, prefix string) error {
	ctx := context.Background()
	st, err := job.OpenStore(ctx, db, pg, schema)
	if err != nil {
		return err
	}
	defer st.Close()
	reg := task.NewRegistry()
	var first *effect.Program[int, string]
	for _, s := range strings.Split(versions, ",") {
		v, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		p := Renew(v, edited && v == 1)
		if first == nil {
			first = p
		}
		if err := task.Register(reg, p); err != nil {
			return err
		}
	}
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithDurableOptions(interp.DurableOptions{
		Owner: os.Getenv("AMBER_WORKER"), Lease: 2 * time.Second, Poll: 20 * time.Millisecond}))
	if err != nil {
		return err
	}
	defer d.Close()
	for i := range start {
		if _, err := interp.StartProgram(d, first, i, interp.WithID(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
			return err
		}
	}
	fmt.Println("READY")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	return nil
}
