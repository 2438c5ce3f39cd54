package interp_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/amberrt/amber/internal/pgtest"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/interp/interptest"
	"github.com/amberrt/amber/store"
	"github.com/stretchr/testify/require"
)

// Every interpreter passes both conformance suites of interptest: the
// program cases (interptest.Run) and the runtime cases
// (interptest.RunRuntime). The durable interpreter runs them on SQLite
// and on PostgreSQL (with AMBER_TEST_POSTGRES).

// Known bugs of the interpreters that cases of the suites find, by case
// name (see knownBug): none today. A reproduction of one is
// AMBER_TEST_KNOWN_BUGS=1 go test ./interp -run 'TestConformanceSimFaults/seed6/ContinueAsNew'.
var (
	inMemoryBugs = map[string]string{}
	simFaultBugs = map[string]string{}
	durableBugs  = map[string]string{}
)

// skipKnownBug skips the case name if bugs knows it fails.
func skipKnownBug(t *testing.T, bugs map[string]string, name string) {
	if bug, ok := bugs[name]; ok {
		knownBug(t, bug)
	}
}

// simFaults are the faults of the Sim's fault-injecting runs.
var simFaults = interp.WithSimOptions(interp.SimOptions{CrashProb: 0.3, CrashAllProb: 0.1, DelayProb: 0.5})

// runCase runs one program case on rt.
func runCase(t *testing.T, rt interp.Runtime, c interptest.Case) interptest.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tk, err := interp.StartAny(rt, c.Program, c.Input)
	require.NoError(t, err)
	for _, msg := range c.Messages {
		require.NoError(t, rt.Send(tk.ID(), msg))
	}
	v, err := tk.Wait(ctx)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	return interptest.Outcome{Result: v, Err: err, Journal: journal(t, tk)}
}

func TestConformanceMock(t *testing.T) {
	interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
		return runCase(t, interp.NewMock(interp.WithHandlers(c.Handlers...), interp.WithRegistry(c.Registry)), c)
	})
	interptest.RunRuntime(t, func(t *testing.T, s interptest.Setup) interp.Runtime {
		skipKnownBug(t, inMemoryBugs, s.Name)
		return interp.NewMock(interp.WithHandlers(s.Handlers...), interp.WithRegistry(s.Registry))
	})
}

func newLive(t *testing.T, reg interp.RegistryOption, hs interp.Option) *interp.Live {
	l := interp.NewLive(hs, reg, interp.WithJournal(), interp.WithLogger(quiet))
	t.Cleanup(func() { l.Close() })
	return l
}

func TestConformanceLive(t *testing.T) {
	interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
		return runCase(t, newLive(t, interp.WithRegistry(c.Registry), interp.WithHandlers(c.Handlers...)), c)
	})
	interptest.RunRuntime(t, func(t *testing.T, s interptest.Setup) interp.Runtime {
		skipKnownBug(t, inMemoryBugs, s.Name)
		return newLive(t, interp.WithRegistry(s.Registry), interp.WithHandlers(s.Handlers...))
	})
}

func TestConformanceSim(t *testing.T) {
	interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
		return runCase(t, interp.NewSim(1, interp.WithHandlers(c.Handlers...), interp.WithRegistry(c.Registry)), c)
	})
	interptest.RunRuntime(t, func(t *testing.T, s interptest.Setup) interp.Runtime {
		skipKnownBug(t, inMemoryBugs, s.Name)
		return interp.NewSim(1, interp.WithHandlers(s.Handlers...), interp.WithRegistry(s.Registry))
	})
}

// simSeeds is the number of seeds TestConformanceSimFaults runs:
// AMBER_SIM_SEEDS=N runs more.
var simSeeds = func() int {
	if n, err := strconv.Atoi(os.Getenv("AMBER_SIM_SEEDS")); err == nil && n > 0 {
		return n
	}
	return 8
}()

// TestConformanceSimFaults runs the suites again under crashes of single
// tasks and of the whole runtime, and delayed messages: the observable
// results and journals must not change.
func TestConformanceSimFaults(t *testing.T) {
	for seed := range uint64(simSeeds) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
				return runCase(t, interp.NewSim(seed, interp.WithHandlers(c.Handlers...), interp.WithRegistry(c.Registry), simFaults), c)
			})
			interptest.RunRuntime(t, func(t *testing.T, s interptest.Setup) interp.Runtime {
				skipKnownBug(t, simFaultBugs, s.Name)
				return interp.NewSim(seed, interp.WithHandlers(s.Handlers...), interp.WithRegistry(s.Registry), simFaults)
			})
		})
	}
}

// TestConformanceReplay records each program case under the mock, replays
// the journal, and reports what the replay saw. (RunRuntime replays the
// tasks of every runtime case itself.)
func TestConformanceReplay(t *testing.T) {
	interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
		rec := runCase(t, interp.NewMock(interp.WithHandlers(c.Handlers...), interp.WithRegistry(c.Registry)), c)
		r, err := interp.Replay(context.Background(), c.Program, c.Input, rec.Journal, interp.WithRegistry(c.Registry))
		require.NoError(t, err)
		require.True(t, r.Done, "the program finishes within its journal")
		require.Equal(t, rec.Journal, r.Journal, "replay reproduces the journal")
		return interptest.Outcome{Result: r.Result, Err: r.Err, Journal: r.Journal}
	})
}

// durableConformance runs both suites on durable interpreters over the
// stores that open makes, one per case.
func durableConformance(t *testing.T, open func(t *testing.T) store.Store) {
	newDurable := func(t *testing.T, st store.Store, reg interp.RegistryOption, hs interp.Option) *interp.Durable {
		d, err := interp.NewDurable(st, reg, hs, interp.WithLogger(quiet), fastDurable)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		return d
	}
	interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
		return runCase(t, newDurable(t, open(t), interp.WithRegistry(c.Registry), interp.WithHandlers(c.Handlers...)), c)
	})
	interptest.RunRuntime(t, func(t *testing.T, s interptest.Setup) interp.Runtime {
		skipKnownBug(t, durableBugs, s.Name)
		return newDurable(t, open(t), interp.WithRegistry(s.Registry), interp.WithHandlers(s.Handlers...))
	})
}

func TestConformanceDurable(t *testing.T) {
	durableConformance(t, func(t *testing.T) store.Store { return openSQLite(t, "") })
}

func TestConformanceDurablePostgres(t *testing.T) {
	pgtest.URL(t)
	durableConformance(t, func(t *testing.T) store.Store { return pgtest.Open(t, "interp_conf_") })
}
