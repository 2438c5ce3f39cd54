package interp_test

import (
	"context"
	"fmt"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
)

// Record a program under the mock, then replay it from its journal: the
// replay performs nothing and gives the same result.
func ExampleReplay() {
	prog := effect.NewProgram("greeter", 1, func(name string) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			e.Sleep(time.Hour)
			return fmt.Sprintf("hello %s, it is %s", name, e.Now().Format(time.TimeOnly))
		})
	})
	mock := interp.NewMock()
	t, _ := interp.StartProgram(mock, prog, "ann")
	live, _ := t.Wait(context.Background())

	j, _ := t.Journal()
	r, err := interp.Replay(context.Background(), prog, "ann", j)
	fmt.Println(live)
	fmt.Println(r.Result, err)
	for _, en := range r.Journal {
		fmt.Println(en.Seq, en.Kind)
	}
	// Output:
	// hello ann, it is 01:00:00
	// hello ann, it is 01:00:00 <nil>
	// 1 effect.SleepOp
	// 2 effect.NowOp
}

// The mock's clock moves only when told.
func ExampleMock_Advance() {
	mock := interp.NewMock()
	t, _ := interp.Start(mock, effect.As(effect.Sleep(10*time.Minute), "woke"))
	mock.Advance(5 * time.Minute)
	_, _, done := t.Result()
	fmt.Println("after 5m:", done)
	mock.Advance(5 * time.Minute)
	v, _, done := t.Result()
	fmt.Println("after 10m:", done, v)
	// Output:
	// after 5m: false
	// after 10m: true woke
}
