package interp_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/interp/interptest"
)

type ping struct{ From string }
type pong struct{}

// pongLoop answers pings forever. Programs are immutable values: the loop
// reuses one Receive and builds one Send per message.
func pongLoop() effect.Eff[effect.Unit] {
	var loop effect.Eff[effect.Unit]
	again := func(effect.Unit) effect.Eff[effect.Unit] { return loop }
	loop = effect.Then(effect.Receive[ping](), func(p ping) effect.Eff[effect.Unit] {
		return effect.Then(effect.Send(effect.PID[pong]{ID: p.From}, pong{}), again)
	})
	return loop
}

// pingLoop sends n pings to, waiting for each pong; one round trip is a
// constant program, built once.
func pingLoop(self string, to effect.PID[ping], n int) effect.Eff[int] {
	round := effect.Seq(effect.Send(to, ping{self}), effect.Receive[pong]())
	var loop func(i int) effect.Eff[int]
	loop = func(i int) effect.Eff[int] {
		if i == 0 {
			return effect.Pure(0)
		}
		return effect.Then(round, func(pong) effect.Eff[int] { return loop(i - 1) })
	}
	return loop(n)
}

// BenchmarkPingPong measures messages per second between two live tasks;
// each iteration is one round trip, two messages. In the same run it
// measures as many round trips between two goroutines over unbuffered
// channels (chan-msgs/s; x-chan is amber's rate over it, issue 15's
// target 0.8), and of the same two programs stepped on two bare
// effect.Machines with the messages handed over by hand (floor-msgs/s,
// floor-x-chan): what the programs cost without any interpreter, the
// most the interpreter could reach.
func BenchmarkPingPong(b *testing.B) {
	l := interp.NewLive(interp.WithLogger(quiet))
	defer l.Close()
	pt, err := interp.Start(l, pongLoop())
	if err != nil {
		b.Fatal(err)
	}
	prog := effect.Then(effect.Self[pong](), func(self effect.PID[pong]) effect.Eff[int] {
		return pingLoop(self.ID, effect.PID[ping]{ID: pt.ID()}, b.N)
	})
	b.ResetTimer()
	if _, err := interp.Run(context.Background(), l, prog); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	amber := b.Elapsed()
	ch := chanRounds(b.N)
	floor := machineRounds(b, b.N)
	b.ReportMetric(msgRate(b.N, amber), "msgs/s")
	b.ReportMetric(msgRate(b.N, ch), "chan-msgs/s")
	b.ReportMetric(float64(ch)/float64(amber), "x-chan")
	b.ReportMetric(msgRate(b.N, floor), "floor-msgs/s")
	b.ReportMetric(float64(ch)/float64(floor), "floor-x-chan")
}

// msgRate is the messages per second of n round trips that took d.
func msgRate(n int, d time.Duration) float64 { return float64(2*n) / d.Seconds() }

// BenchmarkPingPongChan is the baseline: two goroutines exchanging
// messages over unbuffered channels.
func BenchmarkPingPongChan(b *testing.B) {
	b.ReportMetric(msgRate(b.N, chanRounds(b.N)), "msgs/s")
}

// chanRounds makes n round trips between two goroutines over unbuffered
// channels and returns the time they took.
func chanRounds(n int) time.Duration {
	pings, pongs := make(chan ping), make(chan pong)
	go func() {
		for range pings {
			pongs <- pong{}
		}
	}()
	start := time.Now()
	for range n {
		pings <- ping{}
		<-pongs
	}
	d := time.Since(start)
	close(pings)
	return d
}

// BenchmarkPingPongMachines steps the programs of BenchmarkPingPong on two
// bare effect.Machines, handing each message over by hand: no interpreter,
// no scheduler, no locks. It is the floor under BenchmarkPingPong: what
// the programs themselves cost (their binds, their allocations).
func BenchmarkPingPongMachines(b *testing.B) {
	b.ReportMetric(msgRate(b.N, machineRounds(b, b.N)), "msgs/s")
}

// machineRounds runs n round trips of pingLoop and pongLoop on two bare
// machines and returns the time they took.
func machineRounds(tb testing.TB, n int) time.Duration {
	pinger := effect.NewMachine(pingLoop("a", effect.PID[ping]{ID: "b"}, n))
	ponger := effect.NewMachine(pongLoop())
	pinger.Run()
	ponger.Run()
	var toPing, toPong []any
	// step performs m's pending op, a Send or a Receive, against the
	// mailboxes; it reports whether the op completed.
	step := func(m *effect.Machine, inbox, out *[]any) bool {
		p := m.Pending()[0]
		switch op := p.Op.(type) {
		case effect.SendOp:
			*out = append(*out, op.Msg)
			return m.Resume(p.ID, nil) == nil
		case effect.Receiver:
			if len(*inbox) == 0 || !op.Accepts((*inbox)[0]) {
				return false
			}
			msg := (*inbox)[0]
			(*inbox)[0] = nil
			*inbox = (*inbox)[:0]
			return m.Resume(p.ID, msg) == nil
		}
		tb.Fatalf("op %T", p.Op)
		return false
	}
	start := time.Now()
	for !pinger.Done() {
		for !pinger.Done() && step(pinger, &toPing, &toPong) {
		}
		for step(ponger, &toPong, &toPing) {
		}
	}
	d := time.Since(start)
	if v, err := pinger.Result(); err != nil || v != 0 {
		tb.Fatalf("ping: %v, %v", v, err)
	}
	return d
}

// BenchmarkIdleTasks spawns 100,000 live tasks blocked on Receive and
// reports the memory and goroutines each holds.
func BenchmarkIdleTasks(b *testing.B) {
	const n = 100_000
	for range b.N {
		b.StopTimer()
		l := interp.NewLive(interp.WithLogger(quiet))
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		b.StartTimer()
		tasks := make([]*interp.Handle[ping], n)
		for i := range tasks {
			t, err := interp.Start(l, effect.Receive[ping]())
			if err != nil {
				b.Fatal(err)
			}
			tasks[i] = t
		}
		l.WaitIdle()
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		g1 := runtime.NumGoroutine()
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/task")
		b.ReportMetric(float64(g1-g0)/n, "goroutines/task")
		runtime.KeepAlive(tasks)
		l.Close()
	}
}

// BenchmarkReplay replays a journal of 10,000 mixed entries and reports
// entries per second.
func BenchmarkReplay(b *testing.B) {
	const n = 2_500
	var loop func(i int) effect.Eff[int]
	loop = func(i int) effect.Eff[int] {
		if i == n {
			return effect.Pure(i)
		}
		return effect.Then(effect.Now(), func(time.Time) effect.Eff[int] {
			return effect.Then(effect.Random(), func(uint64) effect.Eff[int] {
				return effect.Then(effect.Perform(interptest.Double{N: i}), func(int) effect.Eff[int] {
					return effect.Then(effect.Perform(interptest.GetUser{ID: "u"}), func(interptest.User) effect.Eff[int] {
						return loop(i + 1)
					})
				})
			})
		})
	}
	prog := effect.NewProgram("bench.replay", 1, func(effect.Unit) effect.Eff[int] { return loop(0) })
	m := interp.NewMock(interp.WithHandlers(effect.Handle(func(_ context.Context, q interptest.GetUser) (interptest.User, error) {
		return interptest.User{ID: q.ID, Name: "n"}, nil
	})))
	t, err := interp.StartProgram(m, prog, effect.Unit{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := t.Wait(context.Background()); err != nil {
		b.Fatal(err)
	}
	j := journal(b, t)
	if len(j) != 4*n {
		b.Fatalf("journal has %d entries", len(j))
	}
	b.ResetTimer()
	for range b.N {
		r, err := interp.Replay(context.Background(), prog, effect.Unit{}, j)
		if err != nil || !r.Done {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(j)*b.N)/b.Elapsed().Seconds(), "entries/s")
}
