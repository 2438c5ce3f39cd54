// Command supworker is the subject of the supervision crash test: a
// durable amber worker that starts (once, under a fixed ID) the supjob
// supervisor and runs it and its crashing children until every slot has
// ended normally, meant to be killed with SIGKILL at random moments and
// started again. It prints "ALL DONE" when the workload is finished and
// quiet. See crashtest.
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

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/crashtest/job"
	"github.com/amberrt/amber/internal/crashtest/supjob"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
)

func main() {
	db := flag.String("db", "", "SQLite file")
	pg := flag.String("postgres", "", "PostgreSQL URL")
	schema := flag.String("schema", "amber", "PostgreSQL schema")
	owner := flag.String("owner", "", "lease owner name")
	lease := flag.Duration("lease", 2*time.Second, "lease duration")
	timeout := flag.Duration("timeout", 80*time.Second, "give up (and show what is unfinished) after this long")
	flag.Parse()
	if err := run(*db, *pg, *schema, *owner, *lease, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(db, pg, schema, owner string, lease, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := job.OpenStore(ctx, db, pg, schema)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := interp.NewDurable(st, interp.WithRegistry(supjob.Registry()), interp.WithWorld(supjob.NewWorld()),
		// The children's panics are the point; the supervisor logs nothing else.
		interp.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		interp.WithWorkers(16),
		interp.WithDurableOptions(interp.DurableOptions{Owner: owner, Lease: lease, Poll: 20 * time.Millisecond,
			ActivityTimeout: lease}))
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := interp.StartProgram(d, supjob.Sup, effect.Unit{}, interp.WithID(supjob.SupID)); err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	if err := supjob.Quiet(ctx, st, 20*time.Millisecond); err != nil {
		return err
	}
	fmt.Println("ALL DONE")
	return nil
}
