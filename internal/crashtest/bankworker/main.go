// Command bankworker is the bank torture's worker: a durable amber worker
// that runs the transfers of a bank.Plan on a shared STM world, meant to
// be run as several processes on one database and killed with SIGKILL at
// random moments. See crashtest's TestBank tests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/amberrt/amber/internal/crashtest/bank"
	"github.com/amberrt/amber/internal/crashtest/job"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
)

func main() {
	db := flag.String("db", "", "SQLite file")
	pg := flag.String("postgres", "", "PostgreSQL URL")
	schema := flag.String("schema", "amber", "PostgreSQL schema")
	seed := flag.Uint64("seed", 1, "seed of the plan")
	pays := flag.Int("pays", 60, "random transfers in the plan")
	waits := flag.Int("waits", 8, "waiters (and providers) in the plan")
	create := flag.String("create", "pay,wait,give", "kinds of the plan's tasks this worker creates")
	await := flag.Bool("await", true, "wait until every task of the plan is done, then print ALL DONE and exit")
	owner := flag.String("owner", "", "lease owner name")
	lease := flag.Duration("lease", time.Second, "lease duration (and activity timeout); 0: the defaults")
	cache := flag.Int("cache", 0, "tasks kept in memory (0: the default)")
	hold := flag.String("hold", "", "run the task \"hold\" (bank.Holder) with this marker file instead of the plan")
	flag.Parse()
	if *hold != "" {
		bank.HoldFile, *pays, *waits, *create, *await = *hold, 0, 0, "hold", false
	}
	plan := bank.NewPlan(*seed, *pays, *waits)
	if err := run(*db, *pg, *schema, plan, strings.Split(*create, ","), *await, *owner, *lease, *cache); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(db, pg, schema string, plan bank.Plan, kinds []string, await bool, owner string, lease time.Duration, cache int) error {
	ctx := context.Background()
	b := bank.New()
	// The test terminates backends, at start too: opening is tried again.
	var (
		st  store.Store
		d   *interp.Durable
		err error
	)
	for attempt := 0; ; attempt++ {
		st, err = job.OpenStore(ctx, db, pg, schema)
		if err == nil {
			d, err = interp.NewDurable(st, interp.WithRegistry(b.Registry()), interp.WithWorld(b.World), interp.WithWorkers(16),
				interp.WithDurableOptions(interp.DurableOptions{Owner: owner, Lease: lease, Poll: 20 * time.Millisecond,
					ActivityTimeout: lease, Cache: cache})) // 0: the defaults
			if err != nil {
				st.Close()
			}
		}
		if err == nil {
			break
		}
		if attempt == 20 || db != "" {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer st.Close()
	defer d.Close()
	fmt.Println("STARTED") // the world is loaded
	for i, id := range plan.IDs {
		kind, _, _ := strings.Cut(id, "-")
		if !slices.Contains(kinds, kind) {
			continue
		}
		// The test terminates backends: a failed Create is tried again.
		for attempt := 0; ; attempt++ {
			_, err := interp.StartProgram(d, b.Program, plan.Transfers[i], interp.WithID(id))
			if err == nil || errors.Is(err, store.ErrExists) {
				break
			}
			if attempt == 20 {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if slices.Contains(kinds, "hold") {
		if _, err := interp.StartProgram(d, bank.Holder, 0, interp.WithID("hold")); err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
	}
	fmt.Println("CREATED")
	if !await {
		select {} // run until killed
	}
	for _, id := range plan.IDs {
		h, err := interp.Attach(d, b.Program, id)
		if err == nil {
			_, err = h.Wait(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
	}
	fmt.Println("ALL DONE")
	fmt.Println("ATTEMPTS", bank.Attempts.Load())
	return nil
}
