package interp_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// Approval is the message an expense waits for.
type Approval struct{ By string }

// expense waits, for as long as it takes, for someone to approve it.
var expense = effect.NewProgram("expense", 1, func(amount int) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		a := effect.Await(e, effect.Receive[Approval]())
		return fmt.Sprintf("%d approved by %s", amount, a.By)
	})
})

// A durable task outlives the process that started it: a waiting task is
// a row in the store, and the next process on the same file goes on with
// it.
func ExampleNewDurable_restart() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "amber-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "amber.db")
	reg := task.NewRegistry()
	if err := task.Register(reg, expense); err != nil {
		log.Fatal(err)
	}
	// Messages cross the store under a registered name.
	if err := task.RegisterMessage[Approval](reg, "example.Approval"); err != nil {
		log.Fatal(err)
	}

	// The first process starts the task, sees it wait in the store, and
	// stops.
	st, err := sqlite.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	d, err := interp.NewDurable(st, interp.WithRegistry(reg))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := interp.StartProgram(d, expense, 120, interp.WithID("expense-1")); err != nil {
		log.Fatal(err)
	}
	err = poll.Until(ctx, func() (bool, error) {
		s, err := st.Status(ctx, "expense-1")
		return s == task.Waiting, err
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first process: expense-1 is waiting")
	d.Close()
	st.Close()

	// The second process, on the same file, approves it; the task goes on
	// where its journal ends.
	st, err = sqlite.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	d, err = interp.NewDurable(st, interp.WithRegistry(reg))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	if err := d.Send("expense-1", Approval{By: "bob"}); err != nil {
		log.Fatal(err)
	}
	h, err := interp.Attach(d, expense, "expense-1")
	if err != nil {
		log.Fatal(err)
	}
	v, err := h.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second process:", v)
	// Output:
	// first process: expense-1 is waiting
	// second process: 120 approved by bob
}
