// Package bank is the bank torture's workload: transfers between eight
// STM world accounts, some of which wait (Retry) for funds that other
// tasks, on other workers, provide. Every committed transfer returns the
// store versions of the accounts it read, so that a checker can rebuild
// the order in which the transfers committed and replay them serially
// (see Check).
package bank

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/task"
)

// The accounts: Pool accounts that random transfers move money between,
// the Reserve that providers draw from, and Escrow, which waiters draw
// from and providers fill.
const (
	Pool     = 6
	Reserve  = 6
	Escrow   = 7
	Accounts = 8
)

// Initial returns account i's balance before any transfer.
func Initial(i int) int {
	switch i {
	case Reserve:
		return 100_000
	case Escrow:
		return 0
	}
	return 100
}

// Total is the sum of the balances: conserved by every transfer.
func Total() int {
	sum := 0
	for i := range Accounts {
		sum += Initial(i)
	}
	return sum
}

// AccountName names account i's world var.
func AccountName(i int) string { return fmt.Sprintf("bank-%d", i) }

// Transfer is a task's input: move Amount from account From to account
// To; if From has less, move nothing, or, with Wait, wait (Retry) until
// it has enough.
type Transfer struct {
	// From and To are accounts, Amount what moves.
	From, To, Amount int
	// Wait makes the transfer wait (Retry) for funds instead of moving
	// nothing.
	Wait bool
}

// Result is what a transfer did: Moved is Amount or 0, and FromVer and
// ToVer the store versions of the two accounts it read (the transaction
// writes version+1 of both when Moved > 0).
type Result struct {
	// Moved is what moved: Amount or 0.
	Moved int
	// FromVer and ToVer are the versions of the accounts read.
	FromVer, ToVer uint64
	// FromBal and ToBal are the balances read.
	FromBal, ToBal int
	// From, To and Amount are the transfer's.
	From, To, Amount int
}

// Attempts counts the runs of transfer transactions in this process:
// beyond one per committed transfer, the conflicts (a commit refused as
// stale, or a conflict in memory) and the Retry wake-ups.
var Attempts atomic.Int64

// Bank is the World of the accounts and the program that runs on it.
type Bank struct {
	// World holds the accounts.
	World *world.World
	vars  [Accounts]*stm.Var[int]
	// Program is the transfer program, "bank.transfer".
	Program *effect.Program[Transfer, Result]
}

// New makes a World of the accounts and the transfer program over it.
func New() *Bank {
	b := &Bank{World: world.New()}
	for i := range b.vars {
		b.vars[i] = world.Named(b.World, AccountName(i), Initial(i))
	}
	b.Program = effect.NewProgram("bank.transfer", 1, func(t Transfer) effect.Eff[Result] {
		return effect.AtomicallyLabel("transfer", func(tx *stm.Tx) (Result, error) {
			Attempts.Add(1)
			from, to := b.vars[t.From], b.vars[t.To]
			r := Result{From: t.From, To: t.To, Amount: t.Amount}
			r.FromBal, r.FromVer = from.Get(tx), from.Stamp(tx)
			r.ToBal, r.ToVer = to.Get(tx), to.Stamp(tx)
			if r.FromBal < t.Amount {
				if t.Wait {
					tx.Retry()
				}
				return r, nil
			}
			from.Set(tx, r.FromBal-t.Amount)
			to.Set(tx, r.ToBal+t.Amount)
			r.Moved = t.Amount
			return r, nil
		})
	})
	return b
}

// Registry returns a registry holding the transfer program and Holder.
func (b *Bank) Registry() *task.Registry {
	r := task.NewRegistry()
	if err := task.Register(r, b.Program); err != nil {
		panic(err)
	}
	if err := task.Register(r, Holder); err != nil {
		panic(err)
	}
	return r
}

// HoldFile is the marker file of Hold.
var HoldFile = "hold.marker"

// Hold is an activity whose first attempt creates HoldFile and then
// blocks until it is cancelled (the worker is killed meanwhile); an
// attempt that finds the file returns at once. It measures how long a
// restarted worker takes to run an attempt its dead predecessor had
// started.
type Hold struct {
	effect.Returns[int]
}

// Run creates the marker and blocks, or returns if the marker exists.
func (Hold) Run(ctx context.Context) (int, error) {
	f, err := os.OpenFile(HoldFile, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, os.ErrExist) {
		return 2, nil
	}
	if err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	f.Close()
	<-ctx.Done()
	return 0, ctx.Err()
}

// Holder is the program of the task "hold": one Hold.
var Holder = effect.NewProgram("bank.hold", 1, func(int) effect.Eff[int] { return effect.Perform(Hold{}) })

// Plan is the seeded list of transfers of a run: random transfers among
// the pool, and for each waiter (from Escrow, more than Escrow holds at
// first) a provider (from Reserve to Escrow) of the same amount, so that
// every waiter is served once every provider has run, in any order.
// Tasks are named by Kind and index: "pay-17", "wait-3", "give-3".
type Plan struct {
	// IDs are the tasks' IDs, Transfers their inputs.
	IDs       []string
	Transfers []Transfer
}

// Record returns the task record of transfer i of the plan, to create
// directly in a store.
func (p Plan) Record(i int, now time.Time) (*task.Record, error) {
	in, err := task.Marshal(p.Transfers[i])
	if err != nil {
		return nil, err
	}
	return &task.Record{ID: p.IDs[i], Program: "bank.transfer", Version: 1, Input: in, Status: task.Running,
		Created: now, Updated: now}, nil
}

// NewPlan returns the plan of n random transfers and w waiters (and w
// providers), from seed.
func NewPlan(seed uint64, n, w int) Plan {
	rng := rand.New(rand.NewPCG(seed, 0x62616e6b))
	var p Plan
	for i := range n {
		from := rng.IntN(Pool)
		to := (from + 1 + rng.IntN(Pool-1)) % Pool
		p.IDs = append(p.IDs, fmt.Sprintf("pay-%d", i))
		p.Transfers = append(p.Transfers, Transfer{From: from, To: to, Amount: 1 + rng.IntN(60)})
	}
	for i := range w {
		amount := 50 + rng.IntN(150)
		p.IDs = append(p.IDs, fmt.Sprintf("wait-%d", i))
		p.Transfers = append(p.Transfers, Transfer{From: Escrow, To: rng.IntN(Pool), Amount: amount, Wait: true})
		p.IDs = append(p.IDs, fmt.Sprintf("give-%d", i))
		p.Transfers = append(p.Transfers, Transfer{From: Reserve, To: Escrow, Amount: amount})
	}
	return p
}

// Report is what Check found.
type Report struct {
	Transfers int // committed transfers (tasks done)
	Moved     int // of which moved money
	// Lost counts transfers in the journals whose writes the store does
	// not have (overwritten by another commit, or never stored);
	// Doubled, writes the store has that no journaled transfer accounts
	// for (a transfer applied twice).
	Lost, Doubled int
	Problems      []string
}

// Check replays the committed transfers serially, in the order their
// versions give, and compares with the store: results maps each task's
// ID to its result, store to the stored accounts (value and version; a
// missing account is at its initial value, version 0).
//
// Each account's writes must form a chain: the transfers that wrote it
// read versions 0, 1, ..., n-1 and the store holds version n. The reads
// and writes of all accounts must order the transfers without a cycle
// (serializable); replayed in that order from the initial balances,
// every transfer must read the balances it reported and decide as it
// did, and the final balances must be the stored ones. The total is
// conserved.
func Check(results map[string]Result, stored map[string][2]uint64) Report {
	var rep Report
	problem := func(format string, args ...any) {
		if len(rep.Problems) < 20 {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		}
	}
	ids := make([]string, 0, len(results))
	for id := range results {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	rep.Transfers = len(ids)
	// Per account: who read which version, who wrote after it.
	type access struct {
		id    string
		ver   uint64
		wrote bool
	}
	per := make([][]access, Accounts)
	for _, id := range ids {
		r := results[id]
		if r.Moved > 0 {
			rep.Moved++
		}
		per[r.From] = append(per[r.From], access{id, r.FromVer, r.Moved > 0})
		per[r.To] = append(per[r.To], access{id, r.ToVer, r.Moved > 0})
	}
	// Edges of the serial order: the writer of version v+1 (which read v)
	// comes after every transfer that read v.
	after := map[string][]string{} // id -> ids that must come after it
	indeg := map[string]int{}
	for _, id := range ids {
		indeg[id] = 0
	}
	edge := func(a, b string) {
		if a != b {
			after[a] = append(after[a], b)
			indeg[b]++
		}
	}
	for acct, as := range per {
		writers := map[uint64]string{} // version read -> the transfer that wrote the next
		readers := map[uint64][]string{}
		distinct := 0
		for _, a := range as {
			readers[a.ver] = append(readers[a.ver], a.id)
			if !a.wrote {
				continue
			}
			if other, dup := writers[a.ver]; dup {
				rep.Lost++
				problem("account %d: %s and %s both wrote over version %d (a lost update)", acct, other, a.id, a.ver)
				continue
			}
			writers[a.ver] = a.id
			distinct++
		}
		stVer := stored[AccountName(acct)][1]
		for v := range uint64(distinct) {
			if _, ok := writers[v]; !ok {
				problem("account %d: no transfer wrote over version %d (%d writes journaled, version %d stored)", acct, v, distinct, stVer)
			}
		}
		switch {
		case uint64(distinct) > stVer:
			rep.Lost += distinct - int(stVer)
			problem("account %d: %d writes in the journals, the store is at version %d", acct, distinct, stVer)
		case uint64(distinct) < stVer:
			rep.Doubled += int(stVer) - distinct
			problem("account %d: the store is at version %d, the journals account for %d writes", acct, stVer, distinct)
		}
		for v, w := range writers {
			for _, r := range readers[v] {
				edge(r, w) // read v before v was overwritten
			}
			if next, ok := writers[v+1]; ok {
				edge(w, next)
			}
			for _, r := range readers[v+1] {
				edge(w, r) // read what w wrote
			}
		}
	}
	// Topological order, smallest ID first among the ready ones, so that
	// the replay is deterministic.
	var ready, order []string
	for _, id := range ids {
		if indeg[id] == 0 {
			ready = append(ready, id)
		}
	}
	for len(ready) > 0 {
		slices.SortFunc(ready, func(a, b string) int { return cmp.Compare(b, a) })
		id := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		order = append(order, id)
		for _, n := range after[id] {
			if indeg[n]--; indeg[n] == 0 {
				ready = append(ready, n)
			}
		}
	}
	if len(order) != len(ids) {
		problem("the transfers' reads and writes form a cycle: not serializable (%d of %d ordered)", len(order), len(ids))
		return rep
	}
	var bal [Accounts]int
	for i := range bal {
		bal[i] = Initial(i)
	}
	for _, id := range order {
		r := results[id]
		if bal[r.From] != r.FromBal || bal[r.To] != r.ToBal {
			problem("%s read %d and %d, the serial replay has %d and %d", id, r.FromBal, r.ToBal, bal[r.From], bal[r.To])
		}
		if moved := bal[r.From] >= r.Amount; moved != (r.Moved > 0) {
			problem("%s moved %d of %d from a balance of %d in the serial replay", id, r.Moved, r.Amount, bal[r.From])
		}
		bal[r.From] -= r.Moved
		bal[r.To] += r.Moved
	}
	sum := 0
	for i, b := range bal {
		st, ok := stored[AccountName(i)]
		got := Initial(i)
		if ok {
			got = int(int64(st[0]))
		}
		sum += got
		if got != b {
			problem("account %d holds %d, the serial replay gives %d", i, got, b)
		}
	}
	if sum != Total() {
		problem("the accounts hold %d in all, not %d", sum, Total())
	}
	return rep
}
