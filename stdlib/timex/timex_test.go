package timex_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/lives"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stdlib/timex"
	"github.com/stretchr/testify/require"
)

// Lookup is an activity that answers at once.
type Lookup struct {
	effect.Returns[string]
	Key string
}

// Run answers.
func (l Lookup) Run(context.Context) (string, error) { return "value of " + l.Key, nil }

// Outcomes is what the program of TestLives reports.
type Outcomes struct {
	Fast, Slow, Failed string
}

var bounded = effect.NewProgram("timex.bounded", 1, func(d time.Duration) effect.Eff[Outcomes] {
	return effect.Do(func(e *effect.Ctx) Outcomes {
		var o Outcomes
		v, err := timex.WithTimeout(e, time.Hour, effect.Perform(Lookup{Key: "k"}))
		o.Fast = fmt.Sprint(v, " ", err)
		_, err = timex.WithTimeout(e, d, effect.Receive[string]()) // nobody sends
		var de *timex.DeadlineError
		o.Slow = fmt.Sprint(errors.Is(err, timex.ErrDeadline), errors.As(err, &de) && de.Timeout == d)
		_, err = timex.WithTimeout(e, time.Hour, effect.Fail[int](errors.New("broken")))
		o.Failed = fmt.Sprint(err)
		return o
	})
})

func TestLives(t *testing.T) {
	outs := lives.Check(t, lives.Case[time.Duration, Outcomes]{
		Program: bounded, Input: 20 * time.Millisecond,
		Varies: []string{"effect.NowOp"},
	})
	for _, o := range outs {
		require.NoError(t, o.Err, o.Life)
		require.Equal(t, Outcomes{Fast: "value of k <nil>", Slow: "true true", Failed: "broken"}, o.Result, o.Life)
	}
}

func TestDeadline(t *testing.T) {
	mock := interp.NewMock()
	start := mock.Now()
	p := effect.Do(func(e *effect.Ctx) string {
		_, err := timex.WithDeadline(e, start.Add(90*time.Minute), effect.Seq(effect.Sleep(2*time.Hour), effect.Pure(1)))
		at := e.Now().Sub(start)
		v, err2 := timex.WithDeadline(e, start.Add(3*time.Hour), effect.Seq(effect.Sleep(time.Hour), effect.Pure(2)))
		_, err3 := timex.WithDeadline(e, start, effect.Pure(3)) // passed: not started
		return fmt.Sprintf("%v after %v; %d %v; %v", err, at, v, err2, err3)
	})
	got, err := interp.Run(context.Background(), mock, p)
	require.NoError(t, err)
	require.Equal(t, "timex: deadline exceeded at 2000-01-01T01:30:00Z after 1h30m0s; 2 <nil>; timex: deadline exceeded at 2000-01-01T00:00:00Z", got)
}

func TestTimeoutNotPositive(t *testing.T) {
	ran := false
	p := timex.Timeout(0, effect.Map(effect.Pure(1), func(int) int { ran = true; return 1 }))
	_, err := interp.Run(context.Background(), interp.NewMock(), p)
	require.ErrorIs(t, err, timex.ErrDeadline)
	require.False(t, ran)
}

// An approval that does not come within a day gives up; the timer is a
// durable Sleep, so the day survives a restart.
func ExampleWithTimeout() {
	type Approval struct{ By string }
	p := effect.Do(func(e *effect.Ctx) string {
		a, err := timex.WithTimeout(e, 24*time.Hour, effect.Receive[Approval]())
		if errors.Is(err, timex.ErrDeadline) {
			return "expired at " + e.Now().Format(time.DateTime)
		}
		return "approved by " + a.By
	})
	got, _ := interp.Run(context.Background(), interp.NewMock(), p)
	fmt.Println(got)
	// Output: expired at 2000-01-02 00:00:00
}
