package interp_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/raptest"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/interp/interptest"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestConformanceSim(t *testing.T) {
	interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
		return runCase(t, interp.NewSim(1, interp.WithHandlers(c.Handlers...), interp.WithRegistry(c.Registry)), c)
	})
}

// TestConformanceSimFaults runs the suite again under crashes of single
// tasks and of the whole runtime, and delayed messages: the observable
// results and journals must not change.
func TestConformanceSimFaults(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
				return runCase(t, interp.NewSim(seed, interp.WithHandlers(c.Handlers...), interp.WithRegistry(c.Registry),
					interp.WithSimOptions(interp.SimOptions{CrashProb: 0.3, CrashAllProb: 0.1, DelayProb: 0.5})), c)
			})
		})
	}
}

// The concurrent workload: a root task spawns a collector and clients;
// each client increments a shared var several times, sleeping a random
// while between increments and reporting each to the collector, which
// sums the reports and sends the total to the root.

type tick struct {
	Client int
	N      int
}

type total struct{ N int }

type clientIn struct {
	Collector string
	I, K      int
}

type collectorIn struct {
	Reply string
	N     int
}

type workload struct {
	reg  *task.Registry
	root *effect.Program[int, string]
}

func newWorkload(k int) workload {
	counter := stm.NewVar(0)
	inc := effect.AtomicallyLabel("inc", func(tx *stm.Tx) (int, error) {
		n := counter.Get(tx) + 1
		counter.Set(tx, n)
		return n, nil
	})
	client := effect.NewProgram("sim.client", 1, func(in clientIn) effect.Eff[int] {
		to := effect.PID[tick]{ID: in.Collector}
		var loop func(i int) effect.Eff[int]
		loop = func(i int) effect.Eff[int] {
			if i == in.K {
				return effect.Pure(i)
			}
			return effect.Then(inc, func(n int) effect.Eff[int] {
				return effect.Then(effect.Random(), func(r uint64) effect.Eff[int] {
					return effect.Seq(effect.Sleep(time.Duration(r%5)*time.Millisecond),
						effect.Seq(effect.Send(to, tick{in.I, n}), effect.Suspend(func() effect.Eff[int] { return loop(i + 1) })))
				})
			})
		}
		return loop(0)
	})
	collector := effect.NewProgram("sim.collector", 1, func(in collectorIn) effect.Eff[int] {
		var loop func(i, sum int) effect.Eff[int]
		loop = func(i, sum int) effect.Eff[int] {
			if i == in.N {
				return effect.As(effect.Send(effect.PID[total]{ID: in.Reply}, total{sum}), sum)
			}
			return effect.Then(effect.ReceiveTimeout[tick](time.Second), func(m effect.Maybe[tick]) effect.Eff[int] {
				if !m.OK {
					return effect.Fail[int](fmt.Errorf("collector: no tick after %d", i))
				}
				return loop(i+1, sum+m.Value.N)
			})
		}
		return loop(0, 0)
	})
	root := effect.NewProgram("sim.root", 1, func(n int) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			self := effect.Await(e, effect.Self[total]())
			coll := effect.Await(e, effect.Spawn[tick](collector, collectorIn{Reply: self.ID, N: n * k}))
			for i := range n {
				effect.Await(e, effect.Spawn[effect.Unit](client, clientIn{Collector: coll.ID, I: i, K: k}))
			}
			tot := effect.Await(e, effect.Receive[total]())
			final := effect.Await(e, effect.ReadState(counter))
			return fmt.Sprintf("total %d final %d at %v", tot.N, final, e.Now().Format(time.RFC3339Nano))
		})
	})
	reg := task.NewRegistry()
	for _, p := range []effect.AnyProgram{client, collector, root} {
		if err := reg.Add(p); err != nil {
			panic(err)
		}
	}
	return workload{reg: reg, root: root}
}

// runWorkload runs the workload and returns the root's result and every
// task's encoded journal.
func runWorkload(t testing.TB, seed uint64, so interp.SimOptions, clients, k int) (string, []byte, *interp.Sim) {
	w := newWorkload(k)
	sim := interp.NewSim(seed, interp.WithRegistry(w.reg), interp.WithSimOptions(so))
	tk, err := interp.StartProgram(sim, w.root, clients, interp.WithID("root"))
	require.NoError(t, err)
	v, err := tk.Wait(context.Background())
	require.NoError(t, err, "schedule: %s", sim.Schedule())
	sim.RunUntilIdle()
	var all bytes.Buffer
	for _, task := range sim.Tasks() {
		b, err := taskJournal(task)
		require.NoError(t, err)
		fmt.Fprintf(&all, "%s:%x\n", task.ID(), b)
	}
	return v, all.Bytes(), sim
}

func taskJournal(t *interp.Handle[any]) ([]byte, error) {
	j, err := t.Journal()
	if err != nil {
		return nil, err
	}
	return task.EncodeJournal(j)
}

func TestSimDeterminism(t *testing.T) {
	for _, so := range []interp.SimOptions{{}, {CrashProb: 0.1, CrashAllProb: 0.01, DelayProb: 0.5}} {
		results := map[uint64]string{}
		journals := map[uint64][]byte{}
		for _, seed := range []uint64{1, 2, 3} {
			var res string
			var j []byte
			for run := range 3 {
				r, b, sim := runWorkload(t, seed, so, 5, 4)
				require.Contains(t, r, "total 210 final 20", "every increment counted")
				if run == 0 {
					res, j = r, b
					t.Logf("seed %d options %+v: %s; %d steps; schedule starts %.200s", seed, so, r, sim.Steps(), sim.Schedule())
					continue
				}
				require.Equal(t, res, r, "seed %d run %d: result", seed, run)
				require.True(t, bytes.Equal(j, b), "seed %d run %d: journals are not byte-identical", seed, run)
			}
			results[seed], journals[seed] = res, j
		}
		require.False(t, bytes.Equal(journals[1], journals[2]) && bytes.Equal(journals[2], journals[3]),
			"different seeds should schedule differently")
	}
}

// checkoutSim runs the checkout program (resume_test.go) in a Sim,
// crashing it after the given number of steps (-1: never), and returns
// its result and journal.
func checkoutSim(t *testing.T, crashAt int, all bool) (any, task.Journal) {
	sim := interp.NewSim(7, interp.WithRegistry(checkoutRegistry()))
	tk, err := interp.StartProgram(sim, checkout, "cy", interp.WithID("c"))
	require.NoError(t, err)
	require.NoError(t, sim.Send("c", Order{Item: "tea", Qty: 2}))
	for step := 0; ; step++ {
		if step == crashAt {
			if all {
				require.NoError(t, sim.CrashAll())
			} else {
				require.NoError(t, sim.Crash("c"))
			}
		}
		if sim.Step() {
			continue
		}
		if _, _, done := tk.Result(); done {
			break
		}
		sim.Advance(time.Hour)
	}
	v, err := tk.Wait(context.Background())
	require.NoError(t, err)
	return v, journal(t, tk)
}

// TestSimCrashAtEveryStep crashes a task (and the whole runtime) at each
// step in turn: it always ends as if it had never crashed, with the same
// journal.
func TestSimCrashAtEveryStep(t *testing.T) {
	want, wantJ := checkoutSim(t, -1, false)
	require.Equal(t, "cy owes $$$$$$", want)
	require.Len(t, wantJ, 4)
	for _, all := range []bool{false, true} {
		for step := range len(wantJ) + 2 {
			v, j := checkoutSim(t, step, all)
			require.Equal(t, want, v, "crash at step %d", step)
			require.Equal(t, wantJ, j, "crash at step %d", step)
		}
	}
}

func TestSimCrashErrors(t *testing.T) {
	sim := interp.NewSim(0)
	var nt *interp.NoTaskError
	require.ErrorAs(t, sim.Crash("nope"), &nt)
	tk, err := interp.Start(sim, effect.Receive[note]())
	require.NoError(t, err)
	sim.RunUntilIdle()
	require.ErrorContains(t, sim.Crash(tk.ID()), "anonymous")
	require.NoError(t, sim.CrashAll(), "anonymous tasks are left alone")
	require.NoError(t, sim.Send(tk.ID(), note{3}))
	v, err := tk.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, note{3}, v)
}

// TestSimDeadlock: waiting for a task that can never finish says so.
func TestSimDeadlock(t *testing.T) {
	sim := interp.NewSim(0)
	_, err := interp.Run(context.Background(), sim, effect.Receive[note]())
	require.ErrorIs(t, err, interp.ErrDeadlock)
}

// TestSimReorder: with delays, messages from different senders arrive in
// orders a FIFO network would never produce, but messages from one sender
// always arrive in the order sent.
func TestSimReorder(t *testing.T) {
	const n = 5
	sender := effect.NewProgram("sim.sender", 1, func(in clientIn) effect.Eff[effect.Unit] {
		var loop func(i int) effect.Eff[effect.Unit]
		loop = func(i int) effect.Eff[effect.Unit] {
			if i == n {
				return effect.Pure(effect.Unit{})
			}
			return effect.Seq(effect.Send(effect.PID[tick]{ID: in.Collector}, tick{in.I, i}),
				effect.Suspend(func() effect.Eff[effect.Unit] { return loop(i + 1) }))
		}
		return loop(0)
	})
	receiver := effect.NewProgram("sim.receiver", 1, func(senders int) effect.Eff[[]tick] {
		return effect.Do(func(e *effect.Ctx) []tick {
			self := effect.Await(e, effect.Self[tick]())
			for i := range senders {
				effect.Await(e, effect.Spawn[effect.Unit](sender, clientIn{Collector: self.ID, I: i}))
			}
			var got []tick
			for range senders * n {
				got = append(got, effect.Await(e, effect.Receive[tick]()))
			}
			return got
		})
	})
	reg := task.NewRegistry()
	require.NoError(t, reg.Add(sender))
	require.NoError(t, reg.Add(receiver))
	orders := map[string]bool{}
	for seed := range uint64(50) {
		sim := interp.NewSim(seed, interp.WithRegistry(reg), interp.WithSimOptions(interp.SimOptions{DelayProb: 0.5, CrashProb: 0.05}))
		tk, err := interp.StartProgram(sim, receiver, 3)
		require.NoError(t, err)
		v, err := tk.Wait(context.Background())
		require.NoError(t, err)
		got := v
		require.Len(t, got, 3*n)
		next := make([]int, 3)
		var order []string
		for _, m := range got {
			require.Equal(t, next[m.Client], m.N, "seed %d: messages of sender %d out of order: %v\nschedule: %s", seed, m.Client, got, sim.Schedule())
			next[m.Client]++
			order = append(order, fmt.Sprint(m.Client))
		}
		orders[strings.Join(order, "")] = true
		if seed == 0 {
			require.Contains(t, sim.Schedule(), "deliver(")
		}
	}
	require.Greater(t, len(orders), 10, "seeds should give many interleavings")
}

// The planted bug: a counter service whose clients increment a shared var
// by reading it in one op and writing it back in another. Between the two
// another client may write: a lost update. The fixed clients increment in
// one transaction.

type doneMsg struct{}

func counterService(naive bool) (*effect.Program[int, int], *task.Registry) {
	v := stm.NewVar(0)
	incr := effect.Seq(effect.Atomically(func(tx *stm.Tx) (effect.Unit, error) {
		v.Set(tx, v.Get(tx)+1)
		return effect.Unit{}, nil
	}), effect.Pure(effect.Unit{}))
	if naive {
		incr = effect.Then(effect.ReadState(v), func(n int) effect.Eff[effect.Unit] { return effect.WriteState(v, n+1) })
	}
	client := effect.NewProgram("counter.client", 1, func(reply string) effect.Eff[effect.Unit] {
		return effect.Seq(incr, effect.Send(effect.PID[doneMsg]{ID: reply}, doneMsg{}))
	})
	service := effect.NewProgram("counter.service", 1, func(n int) effect.Eff[int] {
		return effect.Do(func(e *effect.Ctx) int {
			self := effect.Await(e, effect.Self[doneMsg]())
			for range n {
				effect.Await(e, effect.Spawn[effect.Unit](client, self.ID))
			}
			for range n {
				effect.Await(e, effect.Receive[doneMsg]())
			}
			return effect.Await(e, effect.ReadState(v))
		})
	})
	reg := task.NewRegistry()
	_ = reg.Add(client)
	_ = reg.Add(service)
	return service, reg
}

// counterProperty: n clients each increment the counter once; it must end
// at n, whatever the schedule, crashes and delays.
func counterProperty(naive bool) func(*rapid.T) {
	return func(rt *rapid.T) {
		n := rapid.IntRange(1, 4).Draw(rt, "clients")
		service, reg := counterService(naive)
		sim := interp.NewSim(0, interp.WithRegistry(reg), interp.WithSimOptions(interp.SimOptions{
			Chooser: raptest.Draws{T: rt}, CrashProb: 0.05, DelayProb: 0.2}))
		tk, err := interp.StartProgram(sim, service, n, interp.WithID("svc"))
		if err != nil {
			rt.Fatal(err)
		}
		v, err := tk.Wait(context.Background())
		if err != nil {
			rt.Fatalf("service failed: %v\nschedule: %s", err, sim.Schedule())
		}
		if v != n {
			rt.Fatalf("lost update: %d clients incremented the counter to %d\nschedule: %s", n, v, sim.Schedule())
		}
	}
}

func TestSimCounterFixed(t *testing.T) {
	rapid.Check(t, counterProperty(false))
}

// TestSimFindsLostUpdate checks that the property above fails on the
// naive service, and that rapid reports it with the seed that reproduces
// it and the shrunk schedule.
func TestSimFindsLostUpdate(t *testing.T) {
	failed, out := raptest.ExpectFailure(t, counterProperty(true))
	require.True(t, failed, "rapid should find the lost update; output:\n%s", out)
	require.Regexp(t, `lost update: \d clients incremented the counter to \d\nschedule: svc`, out)
	require.Contains(t, out, "-rapid.seed=", "the failure says how to reproduce it")
	t.Logf("rapid's report on the naive service (expected to fail):\n%s", out)
}

// TestSimChooserShrinks: all-zero choices are the fault-free, oldest-first
// schedule, in which the naive service happens to work.
func TestSimChooserShrinks(t *testing.T) {
	service, reg := counterService(true)
	sim := interp.NewSim(0, interp.WithRegistry(reg), interp.WithSimOptions(interp.SimOptions{
		Chooser: zeros{}, CrashProb: 0.5, CrashAllProb: 0.5, DelayProb: 0.5}))
	tk, err := interp.StartProgram(sim, service, 3)
	require.NoError(t, err)
	v, err := tk.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, 3, v)
	require.NotContains(t, sim.Schedule(), "crash")
	require.NotContains(t, sim.Schedule(), "deliver")
}

// longProg draws n random numbers and sums them: its journal is long
// enough to span many of the chunks a task's journal grows by.
var longProg = effect.NewProgram("test.long", 1, func(n int) effect.Eff[uint64] {
	var loop func(i int, sum uint64) effect.Eff[uint64]
	loop = func(i int, sum uint64) effect.Eff[uint64] {
		if i == n {
			return effect.Pure(sum)
		}
		return effect.Then(effect.Random(), func(r uint64) effect.Eff[uint64] { return loop(i+1, sum+r%1000) })
	}
	return loop(0, 0)
})

// TestSimLongJournal crashes a task with a long journal at steps across
// it: the journal (read while it grows, and at the end) is always the one
// of the run without a crash, whole and in order.
func TestSimLongJournal(t *testing.T) {
	const n = 700
	run := func(crashAt int) (any, task.Journal) {
		reg := task.NewRegistry()
		require.NoError(t, reg.Add(longProg))
		sim := interp.NewSim(3, interp.WithRegistry(reg))
		tk, err := interp.StartProgram(sim, longProg, n, interp.WithID("long"))
		require.NoError(t, err)
		for step := 0; sim.Step(); step++ {
			if step == crashAt {
				require.NoError(t, sim.Crash("long"))
			}
			if step%97 == 0 {
				j := journal(t, tk)
				require.NoError(t, j.Validate(), "step %d", step)
				rec, err := tk.Record()
				require.NoError(t, err)
				require.Equal(t, j, rec.Journal, "step %d", step)
			}
		}
		v, err := tk.Wait(context.Background())
		require.NoError(t, err)
		return v, journal(t, tk)
	}
	want, wantJ := run(-1)
	require.Len(t, wantJ, n)
	require.NoError(t, wantJ.Validate())
	for _, at := range []int{0, 7, 8, 9, 100, 389, n - 1, n} {
		v, j := run(at)
		require.Equal(t, want, v, "crash at step %d", at)
		require.Equal(t, wantJ, j, "crash at step %d", at)
	}
}

// TestSimScheduleLong: a long schedule (its trace spans many chunks)
// accounts for every step, and never shows one task twice in a row.
func TestSimScheduleLong(t *testing.T) {
	pinger, reg := benchWorkload()
	sim := interp.NewSim(5, interp.WithRegistry(reg))
	for range 4 {
		_, err := interp.StartProgram(sim, pinger, 60)
		require.NoError(t, err)
	}
	steps := sim.RunUntilIdle()
	require.Greater(t, steps, 1000)
	sum, prev := 0, ""
	for _, tok := range strings.Fields(sim.Schedule()) {
		id, n, found := strings.Cut(tok, "×")
		k := 1
		if found {
			_, err := fmt.Sscan(n, &k)
			require.NoError(t, err, tok)
		}
		require.NotEqual(t, prev, id, "%s twice in a row", id)
		prev = id
		sum += k
	}
	require.Equal(t, steps, sum)
	require.Greater(t, len(strings.Fields(sim.Schedule())), 64+128+256, "spans chunks")
}

type zeros struct{}

func (zeros) Intn(int) int { return 0 }

// benchWorkload is the benchmark's workload: tasks pairs ping-pong
// messages and each side increments a shared var per round.
func benchWorkload() (*effect.Program[int, int], *task.Registry) {
	v := stm.NewVar(0)
	inc := effect.Atomically(func(tx *stm.Tx) (int, error) {
		n := v.Get(tx) + 1
		v.Set(tx, n)
		return n, nil
	})
	ponger := effect.NewProgram("bench.ponger", 1, func(n int) effect.Eff[int] {
		var loop func(i int) effect.Eff[int]
		loop = func(i int) effect.Eff[int] {
			if i == n {
				return effect.Pure(i)
			}
			return effect.Then(effect.Receive[ping](), func(p ping) effect.Eff[int] {
				return effect.Seq(inc, effect.Seq(effect.Send(effect.PID[pong]{ID: p.From}, pong{}),
					effect.Suspend(func() effect.Eff[int] { return loop(i + 1) })))
			})
		}
		return loop(0)
	})
	pinger := effect.NewProgram("bench.pinger", 1, func(n int) effect.Eff[int] {
		return effect.Then(effect.Self[pong](), func(self effect.PID[pong]) effect.Eff[int] {
			return effect.Then(effect.Spawn[ping](ponger, n), func(to effect.PID[ping]) effect.Eff[int] {
				round := effect.Seq(effect.Send(to, ping{self.ID}), effect.Seq(effect.Receive[pong](), inc))
				var loop func(i int) effect.Eff[int]
				loop = func(i int) effect.Eff[int] {
					if i == n {
						return effect.Pure(i)
					}
					return effect.Then(round, func(int) effect.Eff[int] { return loop(i + 1) })
				}
				return loop(0)
			})
		})
	})
	reg := task.NewRegistry()
	_ = reg.Add(ponger)
	_ = reg.Add(pinger)
	return pinger, reg
}

// benchSteps runs the workload on rt and returns the ops completed.
func benchSteps(b *testing.B, rt interp.Runtime, wait func(), pairs, rounds int, pinger *effect.Program[int, int]) int {
	var tasks []*interp.Handle[int]
	for range pairs {
		tk, err := interp.StartProgram(rt, pinger, rounds)
		if err != nil {
			b.Fatal(err)
		}
		tasks = append(tasks, tk)
	}
	wait()
	ops := 0
	for _, tk := range tasks {
		if _, err, done := tk.Result(); !done || err != nil {
			b.Fatalf("task %s: done %v err %v", tk.ID(), done, err)
		}
		ops += len(journal(b, tk)) + 3*rounds // the pinger's ops and its ponger's
	}
	return ops
}

// BenchmarkSimSteps reports simulated steps (ops completed) per second:
// 16 pairs of tasks ping-pong messages and update a shared var, under the
// seeded scheduler, without and with faults; the Mock on the same
// workload is the baseline.
func BenchmarkSimSteps(b *testing.B) {
	const pairs, rounds = 16, 200
	run := func(b *testing.B, mk func(reg *task.Registry) (interp.Runtime, func())) {
		steps := 0
		for range b.N {
			pinger, reg := benchWorkload()
			rt, wait := mk(reg)
			steps += benchSteps(b, rt, wait, pairs, rounds, pinger)
		}
		b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
	}
	b.Run("Sim", func(b *testing.B) {
		run(b, func(reg *task.Registry) (interp.Runtime, func()) {
			s := interp.NewSim(1, interp.WithRegistry(reg))
			return s, func() { s.RunUntilIdle() }
		})
	})
	b.Run("SimFaults", func(b *testing.B) {
		run(b, func(reg *task.Registry) (interp.Runtime, func()) {
			s := interp.NewSim(1, interp.WithRegistry(reg), interp.WithSimOptions(interp.SimOptions{CrashProb: 0.001, DelayProb: 0.2}))
			return s, func() { s.RunUntilIdle() }
		})
	})
	b.Run("Mock", func(b *testing.B) {
		run(b, func(reg *task.Registry) (interp.Runtime, func()) {
			m := interp.NewMock(interp.WithRegistry(reg))
			return m, func() { m.RunUntilIdle() }
		})
	})
}
