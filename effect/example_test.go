package effect_test

import (
	"context"
	"fmt"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
)

// User is what GetUser yields.
type User struct{ Name string }

// GetUser is a user-defined op.
type GetUser struct {
	effect.Returns[User]
	ID string
}

// A tree-style program, run under the mock interpreter with a handler that
// stands in for a database.
func Example_tree() {
	p := effect.Then(effect.Perform(GetUser{ID: "7"}), func(u User) effect.Eff[string] {
		return effect.Map(effect.Now(), func(t time.Time) string {
			return fmt.Sprintf("%s at %s", u.Name, t.Format(time.DateOnly))
		})
	})
	mock := interp.NewMock(interp.WithHandlers(effect.Handle(func(_ context.Context, q GetUser) (User, error) {
		return User{Name: "user " + q.ID}, nil
	})))
	got, err := interp.Run(context.Background(), mock, p)
	fmt.Println(got, err)
	// Output: user 7 at 2000-01-01 <nil>
}

// The same program in direct style: ordinary Go, each effect a call.
func Example_direct() {
	p := effect.Do(func(e *effect.Ctx) string {
		u := effect.Call(e, GetUser{ID: "7"})
		e.Sleep(time.Hour) // the mock's clock skips ahead
		return fmt.Sprintf("%s at %s", u.Name, e.Now().Format(time.TimeOnly))
	})
	mock := interp.NewMock(interp.WithHandlers(effect.Handle(func(_ context.Context, q GetUser) (User, error) {
		return User{Name: "user " + q.ID}, nil
	})))
	got, err := interp.Run(context.Background(), mock, p)
	fmt.Println(got, err)
	// Output: user 7 at 01:00:00 <nil>
}

// Race a message against a timer: whichever comes first wins, and the
// other is withdrawn.
func ExampleRace() {
	type Cancel struct{}
	p := effect.Race(
		effect.As(effect.Receive[Cancel](), "cancelled"),
		effect.As(effect.Sleep(30*time.Minute), "shipped"),
	)
	got, err := interp.Run(context.Background(), interp.NewMock(), p)
	fmt.Println(got, err)
	// Output: shipped <nil>
}

// Fibers of one task run concurrently and deterministically.
func ExamplePar() {
	double := func(n int) effect.Eff[int] { return effect.Pure(2 * n) }
	got, err := interp.Run(context.Background(), interp.NewMock(), effect.Par(double(1), double(2), double(3)))
	fmt.Println(got, err)
	// Output: [2 4 6] <nil>
}
