package stm_test

import (
	"errors"
	"fmt"

	"github.com/amberrt/amber/stm"
)

func Example() {
	alice, bob := stm.NewVar(100), stm.NewVar(20)

	transfer := func(from, to *stm.Var[int], amount int) error {
		_, err := stm.Atomically(func(tx *stm.Tx) (struct{}, error) {
			if from.Get(tx) < amount {
				return struct{}{}, errors.New("insufficient funds")
			}
			from.Set(tx, from.Get(tx)-amount)
			to.Set(tx, to.Get(tx)+amount)
			return struct{}{}, nil
		})
		return err
	}

	// A payment that waits until bob can afford it.
	paid := make(chan int)
	go func() {
		n, _ := stm.Atomically(func(tx *stm.Tx) (int, error) {
			if bob.Get(tx) < 50 {
				tx.Retry() // sleeps until bob's balance changes
			}
			bob.Set(tx, bob.Get(tx)-50)
			return bob.Get(tx), nil
		})
		paid <- n
	}()

	fmt.Println(transfer(bob, alice, 1000))
	fmt.Println(transfer(alice, bob, 40))
	fmt.Println("bob after paying:", <-paid)

	total, _ := stm.Atomically(func(tx *stm.Tx) (int, error) {
		return alice.Get(tx) + bob.Get(tx), nil
	})
	fmt.Println("alice:", alice.Load(), "total:", total)
	// Output:
	// insufficient funds
	// <nil>
	// bob after paying: 10
	// alice: 60 total: 70
}

// auditLog is an Owner that prints every write to its vars before it is
// visible, and refuses negative values.
type auditLog struct{}

func (*auditLog) Prepare(c *stm.Commit) error {
	for _, w := range c.Writes {
		if w.Value.(int) < 0 {
			return fmt.Errorf("%s may not go negative", w.Var.Name())
		}
		fmt.Printf("%s: %v (stamp %d -> %d)\n", w.Var.Name(), w.Value, w.Prev, w.Stamp)
	}
	return nil
}

func ExampleNewOwned() {
	stock := stm.NewOwned(&auditLog{}, "stock", 5, 0)
	take := func(n int) error {
		_, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
			return stm.Modify(tx, stock, func(s int) int { return s - n }), nil
		})
		return err
	}
	fmt.Println(take(2))
	fmt.Println(take(9))
	fmt.Println("stock:", stock.Load())
	// Output:
	// stock: 3 (stamp 0 -> 1)
	// <nil>
	// stock may not go negative
	// stock: 3
}
