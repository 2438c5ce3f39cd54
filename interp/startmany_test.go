package interp_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/pgtest"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/memstore"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// Double is an activity that doubles N.
type Double struct {
	effect.Returns[int]
	N int
}

// Run doubles N.
func (d Double) Run(context.Context) (int, error) { return 2 * d.N, nil }

var doubler = effect.NewProgram("doubler", 1, func(n int) effect.Eff[int] {
	return effect.Perform(Double{N: n})
})

// startManyStores are the stores TestStartMany runs on (PostgreSQL with
// AMBER_TEST_POSTGRES).
func startManyStores(t *testing.T) map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"memstore": func(t *testing.T) store.Store {
			st := memstore.New()
			t.Cleanup(func() { st.Close() })
			return st
		},
		"sqlite": func(t *testing.T) store.Store {
			st, err := sqlite.Open(filepath.Join(t.TempDir(), "amber.db"), nil)
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			return st
		},
		"postgres": func(t *testing.T) store.Store { return pgtest.Open(t, "interp_startmany_") },
	}
}

func newDoubler(t *testing.T, st store.Store) *interp.Durable {
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, doubler))
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

func waitAll(t *testing.T, hs []*interp.Handle[int], ins []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.Len(t, hs, len(ins))
	for i, h := range hs {
		v, err := h.Wait(ctx)
		require.NoError(t, err, "task %s", h.ID())
		require.Equal(t, 2*ins[i], v, "task %s", h.ID())
	}
}

func ids(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return s
}

// TestStartMany: the tasks of a StartMany run and their handles come in
// the order of the inputs; a batch with an ID that exists, or one given
// twice, creates nothing; concurrent batches, one of them refused, do not
// fail each other.
func TestStartMany(t *testing.T) {
	for name, open := range startManyStores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			d := newDoubler(t, st)
			ctx := context.Background()

			ins := make([]int, 50)
			for i := range ins {
				ins[i] = i
			}
			hs, err := interp.StartMany(d, doubler, ins, interp.WithIDs(ids("a", 50)...))
			require.NoError(t, err)
			for i, h := range hs {
				require.Equal(t, fmt.Sprintf("a%d", i), h.ID())
			}
			waitAll(t, hs, ins)

			// IDs of the runtime's choosing.
			hs, err = interp.StartMany(d, doubler, ins[:3])
			require.NoError(t, err)
			require.Len(t, hs, 3)
			require.NotEqual(t, hs[0].ID(), hs[1].ID())
			waitAll(t, hs, ins[:3])

			// An ID that exists: nothing created.
			_, err = interp.StartMany(d, doubler, []int{1, 2, 3}, interp.WithIDs("b0", "a7", "b2"))
			require.ErrorIs(t, err, store.ErrExists)
			for _, id := range []string{"b0", "b2"} {
				_, _, err := st.Load(ctx, id)
				require.ErrorIs(t, err, store.ErrNotFound, "task %s of a refused StartMany", id)
			}
			// An ID given twice: nothing created.
			_, err = interp.StartMany(d, doubler, []int{1, 2, 3}, interp.WithIDs("c0", "c1", "c0"))
			require.ErrorIs(t, err, store.ErrExists)
			for _, id := range []string{"c0", "c1"} {
				_, _, err := st.Load(ctx, id)
				require.ErrorIs(t, err, store.ErrNotFound, "task %s of a refused StartMany", id)
			}
			// As many IDs as inputs, or none.
			_, err = interp.StartMany(d, doubler, []int{1, 2}, interp.WithIDs("d0"))
			require.Error(t, err)
			_, err = interp.StartProgram(d, doubler, 1, interp.WithIDs("d0", "d1"))
			require.Error(t, err)
			_, _, err = st.Load(ctx, "d0")
			require.ErrorIs(t, err, store.ErrNotFound)
			hs, err = interp.StartMany(d, doubler, nil)
			require.NoError(t, err)
			require.Empty(t, hs)

			// The refused batches left the waiters of existing tasks
			// alone: a7 is still reachable and done.
			h, err := interp.Attach(d, doubler, "a7")
			require.NoError(t, err)
			v, err := h.Wait(ctx)
			require.NoError(t, err)
			require.Equal(t, 14, v)

			// Concurrent batches and single starts, one batch refused
			// (its e1 exists): the others are created and run, whichever
			// of them share a store call.
			_, err = interp.StartProgram(d, doubler, 0, interp.WithID("e1"))
			require.NoError(t, err)
			var wg sync.WaitGroup
			errs := make([]error, 8)
			got := make([][]*interp.Handle[int], 8)
			for g := range 8 {
				wg.Go(func() {
					if g == 3 {
						got[g], errs[g] = interp.StartMany(d, doubler, []int{1, 2}, interp.WithIDs("e0", "e1"))
						return
					}
					if g%2 == 0 {
						h, err := interp.StartProgram(d, doubler, g, interp.WithID(fmt.Sprintf("f%d", g)))
						got[g], errs[g] = []*interp.Handle[int]{h}, err
						return
					}
					got[g], errs[g] = interp.StartMany(d, doubler, []int{g, g + 1}, interp.WithIDs(ids(fmt.Sprintf("g%d-", g), 2)...))
				})
			}
			wg.Wait()
			for g := range 8 {
				if g == 3 {
					require.ErrorIs(t, errs[g], store.ErrExists)
					_, _, err := st.Load(ctx, "e0")
					require.ErrorIs(t, err, store.ErrNotFound)
					continue
				}
				require.NoError(t, errs[g], "starter %d", g)
				if g%2 == 0 {
					waitAll(t, got[g], []int{g})
				} else {
					waitAll(t, got[g], []int{g, g + 1})
				}
			}
		})
	}
}

// TestStartManyInMemory: Mock, Live and Sim start a batch all or none too.
func TestStartManyInMemory(t *testing.T) {
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, doubler))
	rts := map[string]interp.Runtime{
		"mock": interp.NewMock(interp.WithRegistry(reg)),
		"live": interp.NewLive(interp.WithRegistry(reg)),
		"sim":  interp.NewSim(1, interp.WithRegistry(reg)),
	}
	for name, rt := range rts {
		t.Run(name, func(t *testing.T) {
			hs, err := interp.StartMany(rt, doubler, []int{1, 2, 3}, interp.WithIDs("a", "", "c"))
			require.NoError(t, err)
			require.Equal(t, "a", hs[0].ID())
			require.Equal(t, "c", hs[2].ID())
			require.NotContains(t, []string{"", "a", "c"}, hs[1].ID())
			waitAll(t, hs, []int{1, 2, 3})

			for _, bad := range [][]string{{"x", "a"}, {"y", "y"}} {
				_, err = interp.StartMany(rt, doubler, []int{1, 2}, interp.WithIDs(bad...))
				require.Error(t, err, "IDs %q", bad)
				for _, id := range bad {
					if id == "a" {
						continue
					}
					_, ok := rt.Task(id)
					require.False(t, ok, "task %s of a refused StartMany exists", id)
				}
			}
			_, err = interp.StartMany(rt, doubler, []int{1, 2}, interp.WithID("z"))
			require.Error(t, err)
			_, ok := rt.Task("z")
			require.False(t, ok)
		})
	}
}

func TestStartManyNil(t *testing.T) {
	var p *effect.Program[int, int]
	_, err := interp.StartMany(interp.NewMock(), p, []int{1})
	require.True(t, errors.Is(err, effect.ErrNilProgram))
}

// TestStartAnyWrongInput: an input that is not of the program's input
// type is refused by StartAny and StartMany under the durable
// interpreter, as under the in-memory ones, and no task is stored
// (before, the task was stored and failed when a worker decoded its
// input).
func TestStartAnyWrongInput(t *testing.T) {
	for name, open := range startManyStores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			d := newDoubler(t, st)
			ctx := context.Background()
			_, err := interp.StartAny(d, doubler, "not an int", interp.WithID("w0"))
			require.ErrorContains(t, err, "takes int, got string")
			_, _, err = st.Load(ctx, "w0")
			require.ErrorIs(t, err, store.ErrNotFound)

			var p effect.AnyProgram = doubler
			_, err = interp.StartAny(d, p, 2.5, interp.WithID("w1"))
			require.Error(t, err)
			_, _, err = st.Load(ctx, "w1")
			require.ErrorIs(t, err, store.ErrNotFound)

			// nil stands for the zero input.
			h, err := interp.StartAny(d, doubler, nil, interp.WithID("w2"))
			require.NoError(t, err)
			cctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			v, err := h.Wait(cctx)
			require.NoError(t, err)
			require.Equal(t, 0, v)
		})
	}
}
