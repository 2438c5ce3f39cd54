// Command cron runs a schedule durably on SQLite: a report starts every
// second (a short interval, so that the example ends soon; a real one
// would be "0 3 * * *"). The worker stops for a few seconds, as if the
// machine were down, and starts again: the schedule resumes from the
// database and catches up the ticks it missed by its policy, here one run
// that stands for all of them (cron.CatchUpOnce).
//
//	go run ./examples/cron
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stdlib/cron"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// Publish is the report's activity: it hands the report over (here, to
// the log of this process).
type Publish struct {
	effect.Returns[effect.Unit]
	// Tick is the scheduled time of the report.
	Tick time.Time
	// Missed counts the earlier ticks this run stands for (cron.Tick.Missed).
	Missed int
}

// published is what Publish did, for the output.
var published struct {
	sync.Mutex
	ticks []Publish
}

// Run publishes the report.
func (p Publish) Run(context.Context) (effect.Unit, error) {
	published.Lock()
	defer published.Unlock()
	for _, q := range published.ticks {
		if q.Tick.Equal(p.Tick) {
			return effect.Unit{}, nil // at least once: published already
		}
	}
	published.ticks = append(published.ticks, p)
	return effect.Unit{}, nil
}

func publishedCount() int {
	published.Lock()
	defer published.Unlock()
	return len(published.ticks)
}

// report is the program the schedule starts at each tick.
var report = effect.NewProgram("report", 1, func(t cron.Tick) effect.Eff[effect.Unit] {
	return effect.Perform(Publish{Tick: t.At, Missed: t.Missed})
})

// every is the schedule.
var every = cron.Every("@every 1s", report, cron.Options{CatchUp: cron.CatchUpOnce, Overlap: cron.OverlapSkip})

// Registry is what this command's workers know.
func Registry() *task.Registry {
	r := task.NewRegistry()
	for _, err := range []error{task.Register(r, report), task.Register(r, every)} {
		if err != nil {
			panic(err)
		}
	}
	return r
}

func main() {
	dir, err := os.MkdirTemp("", "amber-cron")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cron:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), filepath.Join(dir, "amber.db"), 3*time.Second, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cron:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, db string, down time.Duration, out io.Writer) error {
	published.Lock()
	published.ticks = nil // a run starts with nothing published
	published.Unlock()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := sqlite.Open(db, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := []interp.DurableOption{interp.WithRegistry(Registry()), interp.WithLogger(quiet),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 20 * time.Millisecond, Lease: time.Second})}

	d, err := interp.NewDurable(st, opts...)
	if err != nil {
		return err
	}
	if _, err := interp.StartProgram(d, every, cron.State{}, interp.WithID("every-second")); err != nil {
		return err
	}
	if err := poll.Until(ctx, func() (bool, error) { return publishedCount() >= 2, nil }); err != nil {
		return fmt.Errorf("waiting for two reports: %w", err)
	}
	if err := d.Close(); err != nil {
		return err
	}
	stopped := time.Now()
	fmt.Fprintf(out, "worker stopped after %d reports; down for %v\n", publishedCount(), down)
	// The machine is down: time passes, and ticks with it.
	if err := poll.Until(ctx, func() (bool, error) { return time.Since(stopped) >= down, nil }); err != nil {
		return err
	}

	before := publishedCount()
	d, err = interp.NewDurable(st, opts...)
	if err != nil {
		return err
	}
	defer d.Close()
	// The first report after the restart may be a tick's run that started
	// before the stop and finishes now (at least once); the catch-up is
	// the run that stands for missed ticks, and a report follows it.
	var catchUp Publish
	if err := poll.Until(ctx, func() (bool, error) {
		published.Lock()
		defer published.Unlock()
		for i := before; i < len(published.ticks)-1; i++ {
			if published.ticks[i].Missed > 0 {
				catchUp = published.ticks[i]
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("waiting for the catch-up and the next report: %w", err)
	}
	fmt.Fprintf(out, "after the restart: one run caught up %d missed ticks (policy %s), then the schedule went on\n", catchUp.Missed, cron.CatchUpOnce)
	return nil
}
