package supervise_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/supervise"
	"github.com/amberrt/amber/task"
)

// Deposit is what a ledger takes; a negative one crashes it.
type Deposit struct{ Cents int }

// ledger takes the name "ledger" and sums deposits until one is bad.
var ledger = effect.NewProgram("ledger", 1, func(effect.Unit) effect.Eff[effect.Unit] {
	return effect.Do(func(e *effect.Ctx) effect.Unit {
		effect.Await(e, effect.TakeName("ledger"))
		total := 0
		for {
			d := effect.Await(e, effect.Receive[Deposit]())
			if d.Cents < 0 {
				panic(fmt.Sprintf("bad deposit %d", d.Cents))
			}
			total += d.Cents
		}
	})
})

// bank supervises the ledger: a crashed ledger is started again, up to
// three times an hour. A durable supervisor is a named program, so that a
// worker can rebuild it after a restart; its spec is code, not input.
var bank = effect.NewProgram("bank", 1, func(effect.Unit) effect.Eff[effect.Unit] {
	return supervise.Supervisor(supervise.Spec{
		Strategy:  supervise.OneForOne,
		Intensity: 3,
		Period:    time.Hour,
		Children: []supervise.Child{
			{Name: "ledger", Start: supervise.Worker(ledger), Restart: supervise.Permanent},
		},
	})
})

// A supervisor under the durable interpreter: its links and its children's
// exit signals are stored, so a crashed child is restarted even if the
// whole process went down in between.
func Example_durable() {
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
	for _, err := range []error{
		task.Register(reg, bank),
		task.Register(reg, ledger),
		task.RegisterMessage[Deposit](reg, "example.Deposit"),
		task.RegisterError(reg, "supervise.ErrIntensity", supervise.ErrIntensity),
	} {
		if err != nil {
			log.Fatal(err)
		}
	}
	d, err := interp.NewDurable(st, interp.WithRegistry(reg))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	if _, err := interp.StartProgram(d, bank, effect.Unit{}, interp.WithID("bank")); err != nil {
		log.Fatal(err)
	}

	// holder waits until a task other than not holds the name "ledger".
	holder := func(not string) string {
		var id string
		err := poll.Until(ctx, func() (bool, error) {
			var err error
			id, err = st.WhereIs(ctx, "ledger")
			return id != "" && id != not, err
		})
		if err != nil {
			log.Fatal(err)
		}
		return id
	}
	first := holder("")
	if err := d.Send(first, Deposit{Cents: -1}); err != nil {
		log.Fatal(err)
	}
	second := holder(first)
	status, _ := st.Status(ctx, first)
	fmt.Println("the first ledger:", status)
	status, _ = st.Status(ctx, second)
	fmt.Println("the ledger that took its name:", status)
	status, _ = st.Status(ctx, "bank")
	fmt.Println("the supervisor:", status)
	// Output:
	// the first ledger: failed
	// the ledger that took its name: waiting
	// the supervisor: waiting
}
