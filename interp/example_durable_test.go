package interp_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// Greet is an activity: an op that knows how to run itself against the
// outside world. The durable interpreter runs it at least once, after the
// step that decided to call it is committed, and journals its result.
type Greet struct {
	effect.Returns[string]
	Name string
}

// Run greets.
func (g Greet) Run(context.Context) (string, error) { return "hello, " + g.Name, nil }

// welcome is a named program: a durable task must find its program again
// by name and version, in this process or the next.
var welcome = effect.NewProgram("welcome", 1, func(name string) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		greeting := effect.Call(e, Greet{Name: name})
		e.Sleep(10 * time.Millisecond) // a durable timer: a stored deadline, not a goroutine
		return greeting + "!"
	})
})

// Run a task durably on SQLite: every step is committed to the file with
// its journal entries before anything outside the task sees it.
func ExampleNewDurable() {
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
	if err := task.Register(reg, welcome); err != nil {
		log.Fatal(err)
	}
	d, err := interp.NewDurable(st, interp.WithRegistry(reg))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	h, err := interp.StartProgram(d, welcome, "ann", interp.WithID("welcome-ann"))
	if err != nil {
		log.Fatal(err)
	}
	v, err := h.Wait(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v)
	status, _ := h.Status()
	fmt.Println("status:", status)
	j, _ := h.Journal()
	for _, en := range j {
		fmt.Println(en.Seq, en.Kind)
	}
	// Output:
	// hello, ann!
	// status: done
	// 1 interp_test.Greet
	// 2 effect.SleepOp
}
