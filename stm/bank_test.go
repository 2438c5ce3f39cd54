package stm_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amberrt/amber/stm"
)

// TestBankTransfersConserveTotal moves money between accounts from 8
// goroutines while auditors sum all accounts in read-only transactions. The
// auditors check the total inside the transaction body: with TL2 reads a
// running transaction never sees a torn state, not even before it commits.
func TestBankTransfersConserveTotal(t *testing.T) {
	const (
		accounts  = 16
		initial   = 1000
		total     = accounts * initial
		workers   = 8
		transfers = 2000
	)
	if testing.Short() {
		t.Skip("slow")
	}
	acct := make([]*stm.Var[int], accounts)
	for i := range acct {
		acct[i] = stm.NewVar(initial)
	}
	sum := func(tx *stm.Tx) (int, error) {
		s := 0
		for _, a := range acct {
			s += a.Get(tx)
		}
		return s, nil
	}

	var torn, audits atomic.Int64
	stop := make(chan struct{})
	var auditors sync.WaitGroup
	for range 2 {
		auditors.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = stm.Atomically(func(tx *stm.Tx) (int, error) {
					s, _ := sum(tx)
					if s != total {
						torn.Add(1) // seen mid-flight, before any commit check
					}
					return s, nil
				})
				audits.Add(1)
			}
		})
	}

	var workersWG sync.WaitGroup
	for w := range workers {
		workersWG.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range transfers {
				from, to := r.IntN(accounts), r.IntN(accounts)
				amount := r.IntN(100)
				_, _ = stm.Atomically(func(tx *stm.Tx) (int, error) {
					// Read the whole bank too, so writers also check
					// consistency inside the body.
					if s, _ := sum(tx); s != total {
						torn.Add(1)
					}
					if acct[from].Get(tx) < amount {
						return 0, nil
					}
					acct[from].Set(tx, acct[from].Get(tx)-amount)
					acct[to].Set(tx, acct[to].Get(tx)+amount)
					return amount, nil
				})
			}
		})
	}
	workersWG.Wait()
	close(stop)
	auditors.Wait()

	got, _ := stm.Atomically(sum)
	assert.Equal(t, total, got, "total not conserved")
	assert.Zero(t, torn.Load(), "a transaction observed a non-conserved total mid-flight")
	t.Logf("%d audits ran alongside %d transfers", audits.Load(), workers*transfers)
}
