package memstore_test

import (
	"context"
	"fmt"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/memstore"
	"github.com/amberrt/amber/task"
)

// Charge is an activity: it does itself when the interpreter runs it.
type Charge struct {
	effect.Returns[string]
	Cents int
}

// Run charges the card (here, it just says so).
func (c Charge) Run(context.Context) (string, error) {
	return fmt.Sprintf("charged %d cents", c.Cents), nil
}

// A durable interpreter over an in-memory store: a test of a program that
// runs durably, with no file and no database.
func Example() {
	checkout := effect.NewProgram("checkout", 1, func(cents int) effect.Eff[string] {
		return effect.Perform(Charge{Cents: cents})
	})
	reg := task.NewRegistry()
	if err := reg.Add(checkout); err != nil {
		panic(err)
	}
	st := memstore.New()
	defer st.Close()
	d, err := interp.NewDurable(st, interp.WithRegistry(reg))
	if err != nil {
		panic(err)
	}
	defer d.Close()
	h, err := interp.StartProgram(d, checkout, 500, interp.WithID("order-1"))
	if err != nil {
		panic(err)
	}
	v, err := h.Wait(context.Background())
	fmt.Println(v, err)
	rec, _, _ := st.Load(context.Background(), "order-1")
	fmt.Println(rec.Status, len(rec.Journal), "journal entry")
	// Output:
	// charged 500 cents <nil>
	// done 1 journal entry
}
