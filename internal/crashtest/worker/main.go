// Command worker is the crash-torture subject: a durable amber worker that
// runs many tasks with activities and STM transfers, meant to be killed
// with SIGKILL at random moments and started again. See crashtest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/amberrt/amber/internal/crashtest/job"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
)

func main() {
	db := flag.String("db", "", "SQLite file")
	pg := flag.String("postgres", "", "PostgreSQL URL")
	schema := flag.String("schema", "amber", "PostgreSQL schema")
	n := flag.Int("tasks", 50, "tasks to run")
	owner := flag.String("owner", "", "lease owner name")
	lease := flag.Duration("lease", 2*time.Second, "lease duration")
	flag.StringVar(&job.KeyFile, "keys", "keys.log", "file the activities append their keys to")
	flag.Parse()
	if err := run(*db, *pg, *schema, *n, *owner, *lease); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(db, pg, schema string, n int, owner string, lease time.Duration) error {
	ctx := context.Background()
	st, err := job.OpenStore(ctx, db, pg, schema)
	if err != nil {
		return err
	}
	defer st.Close()
	w := job.NewWorld()
	d, err := interp.NewDurable(st, interp.WithRegistry(job.Registry()), interp.WithWorld(w), interp.WithWorkers(16),
		interp.WithDurableOptions(interp.DurableOptions{Owner: owner, Lease: lease, Poll: 20 * time.Millisecond,
			ActivityTimeout: lease}))
	if err != nil {
		return err
	}
	defer d.Close()
	for i := range n {
		if _, err := interp.StartProgram(d, job.Job, i, interp.WithID(job.TaskID(i))); err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
	}
	for i := range n {
		h, err := interp.Attach(d, job.Job, job.TaskID(i))
		if err == nil {
			_, err = h.Wait(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", job.TaskID(i), err)
		}
	}
	fmt.Println("ALL DONE")
	return nil
}
