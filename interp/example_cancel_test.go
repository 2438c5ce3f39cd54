package interp_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// SendReminder is an activity.
type SendReminder struct {
	effect.Returns[effect.Unit]
	To string
}

// Run sends the reminder (here: pretends to).
func (SendReminder) Run(context.Context) (effect.Unit, error) { return effect.Unit{}, nil }

// trial reminds a user, then waits thirty days before it ends the trial.
var trial = effect.NewProgram("trial", 1, func(user string) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		effect.Call(e, SendReminder{To: user})
		e.Sleep(30 * 24 * time.Hour)
		return "trial of " + user + " ended"
	})
})

// Cancel stops a task where it waits, durably: it ends with status
// Cancelled and error effect.ErrCancelled, and its journal is kept.
func ExampleHandle_Cancel() {
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
	reg := task.NewRegistry()
	if err := task.Register(reg, trial); err != nil {
		log.Fatal(err)
	}
	d, err := interp.NewDurable(st, interp.WithRegistry(reg))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	h, err := interp.StartProgram(d, trial, "ann")
	if err != nil {
		log.Fatal(err)
	}
	// Wait until the reminder is sent and the task sleeps.
	err = poll.Until(ctx, func() (bool, error) {
		j, err := h.Journal()
		return len(j) == 1, err
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := h.Cancel(); err != nil {
		log.Fatal(err)
	}
	_, err = h.Wait(ctx)
	fmt.Println(err, errors.Is(err, effect.ErrCancelled))
	status, _ := h.Status()
	fmt.Println("status:", status)
	j, _ := h.Journal()
	for _, en := range j {
		fmt.Println(en.Seq, en.Kind)
	}
	// Output:
	// effect: program cancelled true
	// status: cancelled
	// 1 interp_test.SendReminder
}
