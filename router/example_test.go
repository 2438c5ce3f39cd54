package router_test

import (
	"context"
	"fmt"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/router"
)

// A function with two versions; the router's table makes version 1
// primary and shadows it with version 2, which the engine runs in a
// sandbox after each call and compares.
func Example() {
	greet := router.New[string, string]("greet")
	router.Register(greet, "1", func(name string) effect.Eff[string] { return effect.Pure("hello " + name) })
	router.Register(greet, "2", func(name string) effect.Eff[string] { return effect.Pure("hi " + name) })

	table := &router.MemTable{}
	if err := table.Set(greet, "greet", router.Policy{Primary: "1", Shadow: &router.Shadow{Candidate: "2", Sampling: 1}}); err != nil {
		fmt.Println(err)
		return
	}
	sink := &router.MemSink{}
	rt := router.NewRouter(table, router.Options{Sink: sink})
	_ = rt.Refresh(context.Background())

	prog := effect.NewProgram("welcome", 1, func(name string) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string { return router.Call(e, greet, name) + "!" })
	})
	mock := interp.NewMock(interp.WithRoutes(rt))
	h, _ := interp.StartProgram(mock, prog, "ann")
	out, err := h.Wait(context.Background())
	rt.Wait()
	fmt.Println(out, err)
	for _, d := range sink.Divergences("greet") {
		fmt.Printf("v%s %s, v%s %s\n", d.Primary, d.PrimaryOutput, d.Candidate, d.CandidateOutput)
	}
	// Output:
	// hello ann! <nil>
	// v1 "hello ann", v2 "hi ann"
}

// Replay + swap: replay a recorded task with one function run under
// another version; the rest of the task is answered from its journal.
func ExampleCall_replaySwap() {
	lookup := router.New[string, string]("lookup")
	router.Register(lookup, "1", func(id string) effect.Eff[string] { return effect.Pure("user " + id) })
	router.Register(lookup, "debug", func(id string) effect.Eff[string] {
		return effect.Seq(effect.Log(0, "looking up", "id", id), effect.Pure("user "+id))
	})
	prog := effect.NewProgram("show", 1, func(id string) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string { return router.Call(e, lookup, id) })
	})
	mock := interp.NewMock() // no routes: calls run the default version, 1
	h, _ := interp.StartProgram(mock, prog, "7")
	_, _ = h.Wait(context.Background())
	j, _ := h.Journal()

	r, err := interp.Replay(context.Background(), prog, "7", j, interp.WithRoute("lookup", "debug"))
	fmt.Println(r.Result, err)
	for _, sw := range r.Swaps {
		for _, op := range sw.Sandbox.Trace {
			fmt.Println(sw.Function, sw.Version, op.Kind, op.Source)
		}
	}
	// Output:
	// user 7 <nil>
	// lookup debug effect.LogOp performed
}
