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
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// errBusy is what the card network says twice before it takes a charge.
var errBusy = errors.New("card network busy")

// ChargeCard charges a card; its attempts report their idempotency key on
// chargeKeys.
type ChargeCard struct {
	effect.Returns[string]
	Cents int
}

var chargeKeys = make(chan string, 10)

// RetryPolicy retries a failed charge after 10ms, then 20ms, 40ms...:
// the durable interpreter stores the attempt number and the next
// attempt's time, so a crash does not start the count again.
func (ChargeCard) RetryPolicy() effect.RetryPolicy {
	return effect.RetryPolicy{InitialInterval: 10 * time.Millisecond, BackoffCoefficient: 2, MaximumAttempts: 5}
}

// Run charges the card. The idempotency key is the same for every attempt:
// the card network uses it to charge once, however often it is asked.
func (c ChargeCard) Run(ctx context.Context) (string, error) {
	chargeKeys <- effect.IdempotencyKey(ctx)
	if n := effect.Attempt(ctx); n < 3 {
		fmt.Printf("attempt %d: %v\n", n, errBusy)
		return "", errBusy
	}
	fmt.Printf("attempt %d: charged %d cents\n", effect.Attempt(ctx), c.Cents)
	return "ch_1", nil
}

var checkoutCard = effect.NewProgram("checkout-card", 1, func(cents int) effect.Eff[string] {
	return effect.Perform(ChargeCard{Cents: cents})
})

// An activity that fails is retried with backoff, under one idempotency
// key; only its outcome is journaled.
func ExampleNewDurable_retry() {
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
	if err := task.Register(reg, checkoutCard); err != nil {
		log.Fatal(err)
	}
	d, err := interp.NewDurable(st, interp.WithRegistry(reg))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	h, err := interp.StartProgram(d, checkoutCard, 450)
	if err != nil {
		log.Fatal(err)
	}
	v, err := h.Wait(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("result:", v)
	keys := map[string]bool{}
	for len(chargeKeys) > 0 {
		keys[<-chargeKeys] = true
	}
	fmt.Println("idempotency keys used:", len(keys))
	j, _ := h.Journal()
	fmt.Println("journal entries:", len(j))
	// Output:
	// attempt 1: card network busy
	// attempt 2: card network busy
	// attempt 3: charged 450 cents
	// result: ch_1
	// idempotency keys used: 1
	// journal entries: 1
}
