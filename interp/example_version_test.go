package interp_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// LookupPrice and LookupStock are activities.
type LookupPrice struct {
	effect.Returns[int]
	Item string
}

// Run looks the price up.
func (p LookupPrice) Run(context.Context) (int, error) { return 10 * len(p.Item), nil }

// LookupStock is an activity.
type LookupStock struct {
	effect.Returns[int]
	Item string
}

// Run looks the stock up.
func (LookupStock) Run(context.Context) (int, error) { return 3, nil }

// Version 1 of the quote program asks for the price.
var quoteV1 = effect.NewProgram("quote", 1, func(item string) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		price := effect.Call(e, LookupPrice{Item: item})
		return fmt.Sprintf("%s: %d", item, price)
	})
})

// Version 2 changes only what the program computes: it fits every journal
// of version 1.
var quoteV2 = effect.NewProgram("quote", 2, func(item string) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		price := effect.Call(e, LookupPrice{Item: item})
		return fmt.Sprintf("%s costs %d", item, price)
	})
})

// Version 3 checks the stock first: a task recorded by version 1 cannot
// be replayed by it.
var quoteV3 = effect.NewProgram("quote", 3, func(item string) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		if effect.Call(e, LookupStock{Item: item}) == 0 {
			return item + ": sold out"
		}
		price := effect.Call(e, LookupPrice{Item: item})
		return fmt.Sprintf("%s costs %d", item, price)
	})
})

// Before a deploy, replay a stored task against the new version of its
// program: ReplayRecord with ReplayVersion performs nothing, and reports a
// *DivergenceError where the new code no longer fits the journal.
func ExampleReplayRecord() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "amber-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "amber.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	// The build in production knows version 1: its task runs on it.
	running := task.NewRegistry()
	if err := task.Register(running, quoteV1); err != nil {
		log.Fatal(err)
	}
	d, err := interp.NewDurable(st, interp.WithRegistry(running))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	h, err := interp.StartProgram(d, quoteV1, "tea", interp.WithID("quote-tea"))
	if err != nil {
		log.Fatal(err)
	}
	v, err := h.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version 1:", v)
	rec, err := h.Record()
	if err != nil {
		log.Fatal(err)
	}

	// The next build knows versions 2 and 3: replay the stored task
	// against each before deploying it.
	next := task.NewRegistry()
	for _, p := range []effect.AnyProgram{quoteV1, quoteV2, quoteV3} {
		if err := next.Add(p); err != nil {
			log.Fatal(err)
		}
	}
	for _, version := range []int{2, 3} {
		r, err := interp.ReplayRecord(ctx, rec, interp.ReplayVersion(version), interp.WithRegistry(next))
		var de *interp.DivergenceError
		switch {
		case errors.As(err, &de):
			fmt.Printf("version %d diverges at seq %d:\n  recorded: %s\n  issued:   %s\n", version, de.Seq, de.Recorded, de.Issued)
		case err != nil:
			log.Fatal(err)
		default:
			fmt.Printf("version %d fits: %v\n", version, r.Result)
		}
	}
	// Output:
	// version 1: tea: 30
	// version 2 fits: tea costs 30
	// version 3 diverges at seq 1:
	//   recorded: interp_test.LookupPrice {"Item": "tea"}
	//   issued:   interp_test.LookupStock {"Item": "tea"}
}
