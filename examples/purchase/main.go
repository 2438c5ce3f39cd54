// Command purchase is the one-click purchase, run durably on SQLite: the
// order is accepted at once, the buyer has a window to cancel, and the
// order ships when the window closes. While it waits, an order is a row in
// the database, not a goroutine: stop the program at any moment (even
// with kill -9), start it again, and every order continues where it was.
//
//	go run ./examples/purchase                 # two orders, one cancelled
//	go run ./examples/purchase -window 30m     # the real window
//	go run ./cmd/amber task list               # what is in ./amber.db
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
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// Order is a purchase.
type Order struct {
	ID     string
	Item   string
	Cents  int
	Window time.Duration // how long the buyer may cancel
}

// Cancel is the buyer's change of mind.
type Cancel struct{ Reason string }

// Charge charges the buyer's card. It is an activity: it runs against the
// outside world, at least once, with an idempotency key that stays the
// same across retries and restarts.
type Charge struct {
	effect.Returns[string]
	Order string
	Cents int
}

// Run charges the card (here: pretends to).
func (c Charge) Run(ctx context.Context) (string, error) {
	return "charge-" + effect.IdempotencyKey(ctx), nil
}

// RetryPolicy retries a failed charge with backoff.
func (Charge) RetryPolicy() effect.RetryPolicy {
	return effect.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5}
}

// Refund gives the money back.
type Refund struct {
	effect.Returns[effect.Unit]
	Charge string
}

// Run refunds.
func (Refund) Run(context.Context) (effect.Unit, error) { return effect.Unit{}, nil }

// Ship hands the order to the warehouse.
type Ship struct {
	effect.Returns[string]
	Order string
}

// Run ships.
func (s Ship) Run(context.Context) (string, error) { return "parcel-" + s.Order, nil }

// purchase is the program: version 1, in direct style.
var purchase = effect.NewProgram("purchase", 1, func(o Order) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		charge := effect.Call(e, Charge{Order: o.ID, Cents: o.Cents})
		e.Log(slog.LevelInfo, "order accepted", "order", o.ID, "charge", charge)
		cancelled := effect.Await(e, effect.Race(
			effect.Map(effect.Receive[Cancel](), func(c Cancel) bool { return true }),
			effect.As(effect.Sleep(o.Window), false),
		))
		if cancelled {
			effect.Call(e, Refund{Charge: charge})
			return "cancelled, refunded " + charge
		}
		return "shipped " + effect.Call(e, Ship{Order: o.ID})
	})
})

// Registry is what this program's processes know: its programs and the
// message types that cross the database.
func Registry() *task.Registry {
	r := task.NewRegistry()
	must(task.Register(r, purchase))
	must(task.RegisterMessage[Cancel](r, "purchase.Cancel"))
	return r
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	db := flag.String("db", "./amber.db", "SQLite file")
	window := flag.Duration("window", 2*time.Second, "how long a buyer may cancel")
	flag.Parse()
	if err := run(context.Background(), *db, *window, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "purchase:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, db string, window time.Duration, out io.Writer) error {
	st, err := sqlite.Open(db, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	d, err := interp.NewDurable(st, interp.WithRegistry(Registry()), interp.WithLogger(logger),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 50 * time.Millisecond}))
	if err != nil {
		return err
	}
	defer d.Close()

	stamp := time.Now().UTC().Format("150405.000")
	keep, change := "order-"+stamp+"-a", "order-"+stamp+"-b"
	for _, id := range []string{keep, change} {
		if _, err := interp.StartProgram(d, purchase, Order{ID: id, Item: "tea", Cents: 450, Window: window}, interp.WithID(id)); err != nil {
			return err
		}
	}
	time.Sleep(window / 4)
	if err := d.Send(change, Cancel{Reason: "changed my mind"}); err != nil {
		return err
	}
	for _, id := range []string{keep, change} {
		h, err := interp.Attach(d, purchase, id)
		if err != nil {
			return err
		}
		v, err := h.Wait(ctx)
		if err != nil && !errors.Is(err, effect.ErrCancelled) {
			return fmt.Errorf("%s: %w", id, err)
		}
		fmt.Fprintf(out, "%s: %v\n", id, v)
	}
	fmt.Fprintf(out, "inspect them with: go run ./cmd/amber task show %s --db %s\n", keep, db)
	return nil
}
