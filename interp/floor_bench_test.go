package interp_test

import (
	"testing"

	"github.com/amberrt/amber/effect"
)

// BenchmarkPingPongMachines steps the programs of BenchmarkPingPong on two
// bare effect.Machines, handing each message over by hand: no interpreter,
// no scheduler, no locks. It is the floor under BenchmarkPingPong: what
// the programs themselves cost (their binds, their allocations).
func BenchmarkPingPongMachines(b *testing.B) {
	pong := effect.NewMachine(pongLoop())
	ping := effect.NewMachine(pingLoop("a", effect.PID[ping]{ID: "b"}, b.N))
	pong.Run()
	ping.Run()
	var toPong, toPing []any
	// step performs the machine's first pending op against the mailboxes.
	step := func(m *effect.Machine, inbox *[]any, out *[]any) bool {
		p := m.Pending()[0]
		switch op := p.Op.(type) {
		case effect.SendOp:
			*out = append(*out, op.Msg)
			_ = m.Resume(p.ID, nil)
			return true
		case effect.Receiver:
			if len(*inbox) == 0 || !op.Accepts((*inbox)[0]) {
				return false
			}
			msg := (*inbox)[0]
			*inbox = (*inbox)[:0]
			_ = m.Resume(p.ID, msg)
			return true
		}
		b.Fatalf("op %T", p.Op)
		return false
	}
	b.ResetTimer()
	for !ping.Done() {
		for step(ping, &toPing, &toPong) {
			if ping.Done() {
				break
			}
		}
		for step(pong, &toPong, &toPing) {
		}
	}
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
