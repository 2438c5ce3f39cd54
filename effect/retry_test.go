package effect_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/stretchr/testify/require"
)

type quotaErr struct{ N int }

func (q *quotaErr) Error() string { return fmt.Sprintf("quota %d", q.N) }

func TestRetryPolicy(t *testing.T) {
	p := effect.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Second, MaximumAttempts: 4}
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second},
		[]time.Duration{p.Backoff(1), p.Backoff(2), p.Backoff(3), p.Backoff(4)})
	boom := errors.New("boom")
	require.True(t, p.Retryable(boom, 1, 0))
	require.False(t, p.Retryable(boom, 4, 0), "attempts exhausted")
	require.False(t, p.Retryable(nil, 1, 0))

	fatal := errors.New("fatal")
	p.NonRetryable = []error{fatal, (*quotaErr)(nil)}
	require.False(t, p.Retryable(fmt.Errorf("wrapped: %w", fatal), 1, 0))
	require.False(t, p.Retryable(fmt.Errorf("wrapped: %w", &quotaErr{3}), 1, 0), "matched by type")
	require.True(t, p.Retryable(boom, 1, 0))

	p.ScheduleToClose = 10 * time.Second
	require.True(t, p.Retryable(boom, 2, 7*time.Second))
	require.False(t, p.Retryable(boom, 3, 7*time.Second), "the next attempt would start after ScheduleToClose")
}
