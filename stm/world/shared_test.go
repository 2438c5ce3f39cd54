package world_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"pgregory.net/rapid"

	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
)

// remote is a store shared by several Worlds, as the package documentation
// describes one ("Many processes"): a version per var, a clock that
// orders commits, validated commits, never a blind write.
type remote struct {
	mu     sync.Mutex
	clock  uint64
	rows   map[string]remoteRow
	names  []string
	rng    *rand.Rand // when to refuse a commit for no reason of the world's
	log    []accepted // in commit order: log[i] landed at clock i+2
	states [][]int    // states[c]: the balances after clock c

	refused, stale, behind int // how many commits took each path
}

type remoteRow struct {
	value          []byte
	version, clock uint64
}

type accepted struct {
	id     int
	writes map[string]int
}

type idKey struct{}

var errDiskFull = errors.New("disk full")

func newRemote(names []string, initial int, seed uint64) *remote {
	r := &remote{clock: 1, rows: map[string]remoteRow{}, names: names, rng: rand.New(rand.NewPCG(seed, 1))}
	b, _ := cbor.Marshal(initial)
	for _, n := range names {
		r.rows[n] = remoteRow{b, 1, 1}
	}
	r.states = [][]int{make([]int, len(names)), r.balances()}
	return r
}

func (r *remote) balances() []int {
	out := make([]int, len(r.names))
	for i, n := range r.names {
		if err := cbor.Unmarshal(r.rows[n].value, &out[i]); err != nil {
			panic(err)
		}
	}
	return out
}

// since returns the rows written after clock c: a cut at r.clock.
func (r *remote) since(c uint64) []world.Value {
	var out []world.Value
	for n, row := range r.rows {
		if row.clock > c {
			out = append(out, world.Value{Name: n, Value: row.value, Version: row.version})
		}
	}
	return out
}

// commit is the World's commit hook.
func (r *remote) commit(c *world.Commit) error {
	runtime.Gosched() // let other commits interleave
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rng.IntN(8) == 0 {
		r.refused++
		return errDiskFull
	}
	stale := false
	for _, rd := range c.Reads {
		stale = stale || r.rows[rd.Name].version != rd.Version
	}
	for _, w := range c.Writes {
		stale = stale || r.rows[w.Name].version != w.Prev
	}
	if stale {
		r.stale++
		return &world.StaleError{Clock: r.clock, Fresh: r.since(c.Synced)}
	}
	since := r.since(c.Synced)
	if len(since) > 0 {
		r.behind++
	}
	r.clock++
	a := accepted{id: c.Context.Value(idKey{}).(int), writes: map[string]int{}}
	for _, w := range c.Writes {
		r.rows[w.Name] = remoteRow{w.Value, w.Prev + 1, r.clock}
		var x int
		if err := cbor.Unmarshal(w.Value, &x); err != nil {
			panic(err)
		}
		a.writes[w.Name] = x
	}
	r.log = append(r.log, a)
	r.states = append(r.states, r.balances())
	if r.rng.IntN(2) == 0 {
		// As a hook that reads the store after its commit: the cut then
		// holds the commit's own values too.
		since = r.since(c.Synced)
	}
	c.Landed(r.clock, since)
	return nil
}

// refresh brings w up to date, as a process told of others' commits does.
func (r *remote) refresh(w *world.World) error {
	r.mu.Lock()
	clock, vals := r.clock, r.since(w.Synced())
	r.mu.Unlock()
	return w.Refresh(clock, vals)
}

type sharedOp struct {
	Kind     int // 0, 1: transfer; 2: audit; 3: refresh
	From, To int
	Amount   int
}

type transferResult struct {
	moved    bool
	from, to int // the balances read
}

// TestSharedWorldIsSerializable runs two Worlds over one remote store,
// with two goroutines each making random transfers, audits and refreshes,
// while the store refuses some commits for no reason of the worlds'. Then:
//   - every transfer the store accepted read the balances a serial replay
//     of the accepted transfers, in the store's order, gives; the replay
//     ends at the store's balances; the total is conserved;
//   - no transfer landed twice, and only those whose transaction returned
//     committed landed;
//   - every audit, a read-only transaction on one World, saw balances the
//     store went through (a refused commit published nothing; no World
//     ever showed a commit without the ones before it);
//   - after a refresh, both Worlds show the store's balances.
func TestSharedWorldIsSerializable(t *testing.T) {
	t.Log("on failure, rapid prints the seed; rerun with -rapid.seed=<seed>")
	var landed, refused, stale, behind int
	defer func() {
		t.Logf("commits: %d landed (%d while the world was behind), %d refused as stale, %d refused for no reason", landed, behind, stale, refused)
		if stale == 0 || behind == 0 || refused == 0 {
			t.Error("a path was never taken")
		}
	}()
	rapid.Check(t, func(rt *rapid.T) {
		naccts := rapid.IntRange(2, 5).Draw(rt, "accounts")
		const initial = 10
		names := make([]string, naccts)
		for i := range names {
			names[i] = fmt.Sprint("acct-", i)
		}
		st := newRemote(names, initial, rapid.Uint64().Draw(rt, "refusal seed"))
		opGen := rapid.Custom(func(rt *rapid.T) sharedOp {
			return sharedOp{
				Kind:   rapid.IntRange(0, 3).Draw(rt, "kind"),
				From:   rapid.IntRange(0, naccts-1).Draw(rt, "from"),
				To:     rapid.IntRange(0, naccts-1).Draw(rt, "to"),
				Amount: rapid.IntRange(1, 2*initial).Draw(rt, "amount"),
			}
		})
		plans := rapid.SliceOfN(rapid.SliceOfN(opGen, 1, 25), 4, 4).Draw(rt, "plans")

		worlds := make([]*world.World, 2)
		accts := make([][]*stm.Var[int], 2)
		for i := range worlds {
			w := world.New()
			for _, n := range names {
				accts[i] = append(accts[i], world.Named(w, n, 0))
			}
			w.OnCommit(st.commit)
			if err := st.refresh(w); err != nil {
				rt.Fatal(err)
			}
			worlds[i] = w
		}

		var mu sync.Mutex
		var problems []string
		results := map[int]transferResult{}
		failed := map[int]bool{}
		var audits [][]int
		var wg sync.WaitGroup
		for g, plan := range plans {
			wi := g % 2
			w, acct := worlds[wi], accts[wi]
			wg.Go(func() {
				for i, op := range plan {
					id := g*1000 + i
					switch op.Kind {
					case 0, 1:
						ctx := context.WithValue(context.Background(), idKey{}, id)
						res, err := stm.AtomicallyContext(ctx, func(tx *stm.Tx) (transferResult, error) {
							a := acct[op.From].Get(tx)
							runtime.Gosched()
							b := acct[op.To].Get(tx)
							if a < op.Amount || op.From == op.To {
								return transferResult{false, a, b}, nil
							}
							acct[op.From].Set(tx, a-op.Amount)
							acct[op.To].Set(tx, b+op.Amount)
							return transferResult{true, a, b}, nil
						})
						mu.Lock()
						if err != nil && !errors.Is(err, errDiskFull) {
							problems = append(problems, fmt.Sprintf("transfer %d: %v", id, err))
						}
						if err != nil {
							failed[id] = true
						} else {
							results[id] = res
						}
						mu.Unlock()
					case 2:
						seen, err := stm.Atomically(func(tx *stm.Tx) ([]int, error) {
							out := make([]int, len(acct))
							for i, a := range acct {
								out[i] = a.Get(tx)
							}
							return out, nil
						})
						mu.Lock()
						if err != nil {
							problems = append(problems, fmt.Sprintf("audit: %v", err))
						}
						audits = append(audits, seen)
						mu.Unlock()
					case 3:
						if err := st.refresh(w); err != nil {
							mu.Lock()
							problems = append(problems, fmt.Sprintf("refresh: %v", err))
							mu.Unlock()
						}
					}
				}
			})
		}
		wg.Wait()
		landed, refused, stale, behind = landed+len(st.log), refused+st.refused, stale+st.stale, behind+st.behind
		if len(problems) > 0 {
			rt.Fatalf("%d problems, first: %s", len(problems), problems[0])
		}

		plan := func(id int) sharedOp { return plans[id/1000][id%1000] }
		state := slices.Clone(st.states[1])
		done := map[int]bool{}
		for k, a := range st.log {
			if done[a.id] {
				rt.Fatalf("transfer %d landed twice", a.id)
			}
			done[a.id] = true
			res, ok := results[a.id]
			if !ok || !res.moved {
				rt.Fatalf("transfer %d landed, but its transaction returned failed=%v moved=%v", a.id, failed[a.id], res.moved)
			}
			op := plan(a.id)
			if state[op.From] != res.from || state[op.To] != res.to {
				rt.Fatalf("transfer %d read %d, %d; the serial replay gives %d, %d", a.id, res.from, res.to, state[op.From], state[op.To])
			}
			state[op.From] -= op.Amount
			state[op.To] += op.Amount
			if !slices.Equal(state, st.states[k+2]) {
				rt.Fatalf("after transfer %d the store holds %v, the replay %v", a.id, st.states[k+2], state)
			}
		}
		for id, res := range results {
			if res.moved && !done[id] {
				rt.Fatalf("transfer %d returned committed but never landed", id)
			}
		}
		total := 0
		for _, b := range state {
			total += b
		}
		if total != naccts*initial {
			rt.Fatalf("total %d, want %d", total, naccts*initial)
		}
	audit:
		for _, seen := range audits {
			for _, s := range st.states[1:] {
				if slices.Equal(seen, s) {
					continue audit
				}
			}
			rt.Fatalf("an audit saw %v, a state the store never held", seen)
		}
		for i, w := range worlds {
			if err := st.refresh(w); err != nil {
				rt.Fatal(err)
			}
			for j, a := range accts[i] {
				if a.Load() != state[j] {
					rt.Fatalf("world %d: %s = %d after refresh, the store has %d", i, names[j], a.Load(), state[j])
				}
			}
		}
	})
}
