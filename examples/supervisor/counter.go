package main

import (
	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/supervise"
	"github.com/amberrt/amber/task"
)

// Incr asks a counter worker to add one; it acknowledges to ReplyTo.
type Incr struct{ ReplyTo string }

// Ack acknowledges an Incr.
type Ack struct{}

// counterService is a supervised pool of two counter workers sharing one
// STM var, and n clients that each send one Incr and wait for the Ack; it
// returns the counter once every client is done. The naive worker reads
// the counter and writes it back plus one in two ops: two workers
// interleaved there lose an update. The fixed one uses one transaction.
func counterService(naive bool) (*effect.Program[int, int], *task.Registry) {
	count := stm.NewVar(0)
	incr := effect.Atomically(func(tx *stm.Tx) (effect.Unit, error) {
		count.Set(tx, count.Get(tx)+1)
		return effect.Unit{}, nil
	})
	if naive {
		incr = effect.Then(effect.ReadState(count), func(n int) effect.Eff[effect.Unit] {
			return effect.WriteState(count, n+1)
		})
	}
	counter := effect.NewProgram("counter", 1, func(name string) effect.Eff[effect.Unit] {
		return effect.Do(func(e *effect.Ctx) effect.Unit {
			effect.Await(e, effect.TakeName(name))
			for {
				req := effect.Await(e, effect.Receive[Incr]())
				effect.Await(e, incr)
				effect.Await(e, effect.Send(effect.PID[Ack]{ID: req.ReplyTo}, Ack{}))
			}
		})
	})
	client := effect.NewProgram("client", 1, func(to string) effect.Eff[effect.Unit] {
		return effect.Do(func(e *effect.Ctx) effect.Unit {
			self := effect.Await(e, effect.Self[Ack]())
			var id string
			for id == "" {
				w := effect.Await(e, effect.WhereIs(to))
				id = w.Value
				if !w.OK {
					e.Sleep(1)
				}
			}
			effect.Await(e, effect.Send(effect.PID[Incr]{ID: id}, Incr{ReplyTo: self.ID}))
			effect.Await(e, effect.Receive[Ack]())
			return effect.Unit{}
		})
	})
	pool := effect.NewProgram("pool", 1, func(effect.Unit) effect.Eff[effect.Unit] {
		return supervise.Supervisor(supervise.Spec{Strategy: supervise.OneForOne, Intensity: 10, Children: []supervise.Child{
			{Name: "counter-0", Start: supervise.Worker(counter), Input: "counter-0"},
			{Name: "counter-1", Start: supervise.Worker(counter), Input: "counter-1"},
		}})
	})
	service := effect.NewProgram("service", 1, func(n int) effect.Eff[int] {
		return effect.Do(func(e *effect.Ctx) int {
			effect.Await(e, effect.Spawn[effect.Unit](pool, effect.Unit{}))
			var clients []string
			for i := range n {
				c := effect.Await(e, effect.Spawn[effect.Unit](client, []string{"counter-0", "counter-1"}[i%2]))
				clients = append(clients, c.ID)
			}
			for _, c := range clients {
				ref := effect.Await(e, effect.Monitor(c))
				effect.Await(e, effect.ReceiveMatch(func(d effect.Down) bool { return d.Ref == ref }))
			}
			return effect.Await(e, effect.ReadState(count))
		})
	})
	reg := task.NewRegistry()
	for _, p := range []effect.AnyProgram{counter, client, pool, service} {
		if err := reg.Add(p); err != nil {
			panic(err)
		}
	}
	return service, reg
}
