package interp_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// worldCommits counts the Commits that carry world writes made outside
// any task (plain Go code).
type worldCommits struct {
	store.Store
	n atomic.Int32
}

func (s *worldCommits) Commit(ctx context.Context, steps []store.Step) ([]error, error) {
	for _, st := range steps {
		if st.ID == "" && len(st.World) > 0 {
			s.n.Add(1)
		}
	}
	return s.Store.Commit(ctx, steps)
}

// TestDurableCloseKeepsWorldWrites (issue 9, a graceful Close lost world
// writes): Close used to unhook the World from the store before it
// stopped the workers, so that a transaction still running in a task
// committed in memory only, while its journal entry could still be
// committed: the journal said a transfer happened, the store never had
// it. A world write made while Close runs must be stored or refused,
// never published without the store; and what the store holds after
// Close agrees with the journal.
func TestDurableCloseKeepsWorldWrites(t *testing.T) {
	w := world.New()
	acct := world.Named(w, "acct", 0)
	probe := world.Named(w, "probe", 0)
	entered, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	deposit := effect.NewProgram("close.deposit", 1, func(n int) effect.Eff[int] {
		return effect.Atomically(func(tx *stm.Tx) (int, error) {
			v := stm.Modify(tx, acct, func(x int) int { return x + n })
			once.Do(func() { close(entered); <-gate }) // Close comes while the transaction runs
			return v, nil
		})
	})
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, deposit))
	st := &worldCommits{Store: openSQLite(t, "")}
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithWorld(w), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	h, err := interp.StartProgram(d, deposit, 5)
	require.NoError(t, err)
	<-entered
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	defer release()
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()

	// Write the probe from plain Go code until Close refuses it: up to
	// then, every write must reach the store. Once refused (the worker is
	// closing), every write is refused until the task's transaction is
	// done: the World stays hooked while a worker may still commit.
	write := func() error {
		before := st.n.Load()
		_, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
			return stm.Modify(tx, probe, func(x int) int { return x + 1 }), nil
		})
		if err == nil && st.n.Load() == before {
			return errors.New("a world write made during Close was published without being stored")
		}
		return err
	}
	poll.Eventually(t, func() (bool, error) {
		err := write()
		if err != nil && strings.Contains(err.Error(), "published without being stored") {
			return false, err
		}
		return err != nil, nil
	}, "Close to refuse world writes")
	err = write()
	require.Error(t, err, "a world write while a task's transaction still runs in a closing worker")
	require.NotContains(t, err.Error(), "published without being stored")
	release()
	require.NoError(t, <-closed)

	// The store and the journal agree: the deposit is in both or in
	// neither.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec, _, err := st.Load(ctx, h.ID())
	require.NoError(t, err)
	snap, err := st.World(ctx)
	require.NoError(t, err)
	stored := 0
	if row, ok := snap.Lookup("acct"); ok {
		require.NoError(t, task.Unmarshal(row.Value, &stored))
	}
	if len(rec.Journal) > 0 {
		require.Equal(t, 5, stored, "the journal has the deposit: so must the store")
	} else {
		require.Equal(t, 0, stored, "the journal has no deposit: nor must the store")
	}
}
