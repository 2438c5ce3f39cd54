// Command bank moves money between accounts held in amber's STM. Transfer
// tasks run concurrently on the live interpreter; a payer task waits, via
// Retry and holding no goroutine, until its account has enough funds, and
// then pays. At the end it prints the balances and checks that the total is
// conserved.
//
//	go run ./examples/bank
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
)

const (
	accounts  = 5
	initial   = 1000
	transfers = 2000
	bill      = 3000
)

var errInsufficient = errors.New("insufficient funds")

// transfer moves amount between two accounts atomically, or fails and
// changes nothing.
func transfer(from, to *stm.Var[int], amount int) effect.Eff[int] {
	return effect.AtomicallyLabel("transfer", func(tx *stm.Tx) (int, error) {
		b := from.Get(tx)
		if b < amount {
			return 0, errInsufficient
		}
		from.Set(tx, b-amount)
		to.Set(tx, to.Get(tx)+amount)
		return amount, nil
	})
}

// payWhenFunded waits until from holds amount, then pays it to to.
func payWhenFunded(from, to *stm.Var[int], amount int) effect.Eff[int] {
	return effect.AtomicallyLabel("pay", func(tx *stm.Tx) (int, error) {
		b := from.Get(tx)
		if b < amount {
			tx.Retry() // the task sleeps until from changes
		}
		from.Set(tx, b-amount)
		to.Set(tx, to.Get(tx)+amount)
		return b - amount, nil
	})
}

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "bank:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	w := world.New()
	accts := make([]*stm.Var[int], accounts)
	for i := range accts {
		accts[i] = world.Named(w, fmt.Sprintf("account-%d", i), initial)
	}
	shop := world.Named(w, "shop", 0)

	live := interp.NewLive(interp.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer live.Close()

	// The payer waits for account 0 to hold more than it does now.
	payer, err := interp.Start(live, payWhenFunded(accts[0], shop, bill))
	if err != nil {
		return err
	}

	// Random transfers, some of which fail for lack of funds; every one
	// that moves money into account 0 may wake the payer.
	rng := rand.New(rand.NewPCG(1, 2))
	var tasks []*interp.Handle[int]
	for range transfers {
		from, to := rng.IntN(accounts), rng.IntN(accounts)
		if from == to {
			continue
		}
		if to != 0 && rng.IntN(3) == 0 {
			to = 0
		}
		p := effect.Catch(transfer(accts[from], accts[to], 1+rng.IntN(200)), func(error) effect.Eff[int] {
			return effect.Pure(0) // insufficient funds: nothing moved
		})
		t, err := interp.Start(live, p)
		if err != nil {
			return err
		}
		tasks = append(tasks, t)
	}
	moved, failed := 0, 0
	for _, t := range tasks {
		v, err := t.Wait(ctx)
		if err != nil {
			return err
		}
		if v == 0 {
			failed++
		}
		moved += v
	}
	left, err := payer.Wait(ctx)
	if err != nil {
		return err
	}

	total := shop.Load()
	for i, a := range accts {
		fmt.Printf("account-%d: %5d\n", i, a.Load())
		total += a.Load()
	}
	fmt.Printf("shop:      %5d (the payer paid %d once account-0 could cover it, leaving %d)\n", shop.Load(), bill, left)
	fmt.Printf("transfers: %d ran, %d refused for lack of funds, %d moved\n", len(tasks), failed, moved)
	fmt.Printf("total:     %5d (started with %d): conserved=%v\n", total, accounts*initial, total == accounts*initial)
	if total != accounts*initial {
		return errors.New("money was created or destroyed")
	}
	return nil
}
