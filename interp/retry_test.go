package interp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/stretchr/testify/require"
)

// Flaky fails until its attempt reaches Succeed, recording what it saw.
type Flaky struct {
	effect.Returns[int]
	Succeed int
}

var errTransient = errors.New("transient")
var errFatal = errors.New("fatal")

type flakyLog struct {
	attempts []int
	keys     []string
	at       []time.Time
}

func (Flaky) RetryPolicy() effect.RetryPolicy {
	return effect.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 4, NonRetryable: []error{errFatal}}
}

func flakyHandler(log *flakyLog, mock **interp.Mock, fail error) effect.Handler {
	return effect.Handle(func(ctx context.Context, f Flaky) (int, error) {
		log.attempts = append(log.attempts, effect.Attempt(ctx))
		log.keys = append(log.keys, effect.IdempotencyKey(ctx))
		log.at = append(log.at, (*mock).Now())
		if effect.Attempt(ctx) < f.Succeed {
			return 0, fail
		}
		return effect.Attempt(ctx), nil
	})
}

func TestRetryWithBackoff(t *testing.T) {
	var log flakyLog
	var mock *interp.Mock
	mock = interp.NewMock(interp.WithHandlers(flakyHandler(&log, &mock, errTransient)))
	tk, err := interp.Start(mock, effect.Perform(Flaky{Succeed: 3}))
	require.NoError(t, err)
	v, err := tk.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, 3, v)
	require.Equal(t, []int{1, 2, 3}, log.attempts)
	require.Equal(t, log.keys[0], log.keys[1], "one idempotency key for every attempt")
	require.Equal(t, log.keys[0], log.keys[2])
	require.Equal(t, time.Second, log.at[1].Sub(log.at[0]), "first backoff")
	require.Equal(t, 2*time.Second, log.at[2].Sub(log.at[1]), "second backoff doubles")
	require.Len(t, journal(t, tk), 1, "retries are not journaled; the outcome is")
}

func TestRetryStops(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fail     error
		attempts []int
	}{
		{"exhausted", errTransient, []int{1, 2, 3, 4}},
		{"non-retryable", errFatal, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log flakyLog
			var mock *interp.Mock
			mock = interp.NewMock(interp.WithHandlers(flakyHandler(&log, &mock, tc.fail)))
			tk, err := interp.Start(mock, effect.Perform(Flaky{Succeed: 99}))
			require.NoError(t, err)
			_, err = tk.Wait(context.Background())
			require.ErrorIs(t, err, tc.fail)
			require.Equal(t, tc.attempts, log.attempts)
		})
	}
}

// Slow blocks until its context ends.
type Slow struct{ effect.Returns[int] }

func (Slow) Run(ctx context.Context) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func (Slow) RetryPolicy() effect.RetryPolicy {
	return effect.RetryPolicy{MaximumAttempts: 2, InitialInterval: time.Millisecond, StartToClose: 5 * time.Millisecond}
}

func TestStartToClose(t *testing.T) {
	live := interp.NewLive(interp.WithLogger(quiet))
	defer live.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := interp.Run(ctx, live, effect.Perform(Slow{}))
	require.ErrorIs(t, err, effect.ErrAttemptTimeout)
}
