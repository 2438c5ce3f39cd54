// Package job is the crash-torture workload: tasks that call an activity
// with a visible effect and move money between STM world vars.
package job

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/task"
)

// Accounts and their initial balance: the total is conserved.
const (
	Accounts = 10
	Initial  = 100
)

// KeyFile is the file AppendKey appends to.
var KeyFile = "keys.log"

// AppendKey appends its idempotency key to the key file: the effect of an
// activity on the outside world, at least once, recognisable by its key.
type AppendKey struct {
	effect.Returns[string]
	Task string
	N    int
}

// Run appends the key and syncs.
func (a AppendKey) Run(ctx context.Context) (string, error) {
	key := effect.IdempotencyKey(ctx)
	f, err := os.OpenFile(KeyFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, key); err != nil {
		return "", err
	}
	return key, f.Sync()
}

// Vars are the account vars of the current World; see NewWorld.
var Vars [Accounts]*stm.Var[int]

// NewWorld makes the World of accounts and points Vars at it.
func NewWorld() *world.World {
	w := world.New()
	for i := range Vars {
		Vars[i] = world.Named(w, AccountName(i), Initial)
	}
	return w
}

// AccountName names account i's world var.
func AccountName(i int) string { return fmt.Sprintf("acct-%d", i) }

func transfer(i, round int) effect.Eff[int] {
	from, to, amount := Vars[(i+round)%Accounts], Vars[(i+round+3)%Accounts], 1+(i*7+round)%13
	return effect.AtomicallyLabel("transfer", func(tx *stm.Tx) (int, error) {
		b := from.Get(tx)
		if b < amount {
			return 0, nil
		}
		from.Set(tx, b-amount)
		to.Set(tx, to.Get(tx)+amount)
		return amount, nil
	})
}

// Job is the program every task runs.
var Job = effect.NewProgram("job", 1, func(i int) effect.Eff[int] {
	return effect.Do(func(e *effect.Ctx) int {
		moved := 0
		for round := range 3 {
			effect.Call(e, AppendKey{Task: fmt.Sprint(i), N: round})
			moved += effect.Await(e, transfer(i, round))
			e.Sleep(time.Duration(1+i%5) * time.Millisecond)
		}
		return moved
	})
})

// Registry is the worker's registry.
func Registry() *task.Registry {
	r := task.NewRegistry()
	if err := task.Register(r, Job); err != nil {
		panic(err)
	}
	return r
}

// TaskID names job i.
func TaskID(i int) string { return fmt.Sprintf("job-%03d", i) }
