package effect

import (
	"errors"
	"reflect"
	"time"
)

// RetryPolicy says how an interpreter retries an activity (or a handled
// op) that fails. Give an op a policy with a method:
//
//	func (ChargeCard) RetryPolicy() effect.RetryPolicy {
//		return effect.RetryPolicy{MaximumAttempts: 5, InitialInterval: time.Second}
//	}
//
// Without one, an op is attempted once. Under the durable interpreter the
// attempt number and the next attempt's time are stored: a crash during
// attempt 3 resumes at attempt 3, not 1.
type RetryPolicy struct {
	// InitialInterval is the wait before the second attempt (default 1s).
	InitialInterval time.Duration
	// BackoffCoefficient multiplies the wait after each attempt (default 2).
	BackoffCoefficient float64
	// MaximumInterval caps the wait (default 100 × InitialInterval).
	MaximumInterval time.Duration
	// MaximumAttempts caps the attempts; 0 means no cap.
	MaximumAttempts int
	// NonRetryable errors end the retries at once: an attempt's error that
	// matches one of them (errors.Is, or errors.As when the entry is a
	// pointer to an error type's zero value, e.g. (*MyErr)(nil)) fails the
	// op.
	NonRetryable []error
	// StartToClose bounds one attempt: its context is cancelled after it,
	// and the attempt counts as failed. Zero means no bound.
	StartToClose time.Duration
	// ScheduleToClose bounds all attempts together, from the first start.
	// Zero means no bound.
	ScheduleToClose time.Duration
}

// Retrier is implemented by ops that carry a retry policy.
type Retrier interface {
	// RetryPolicy returns the op's policy.
	RetryPolicy() RetryPolicy
}

// ErrAttemptTimeout is the failure of an attempt that exceeded its policy's
// StartToClose.
var ErrAttemptTimeout = errors.New("effect: activity attempt timed out (StartToClose)")

// ErrScheduleTimeout is the failure of an op whose attempts exceeded its
// policy's ScheduleToClose.
var ErrScheduleTimeout = errors.New("effect: activity timed out (ScheduleToClose)")

// Backoff returns the wait after the given failed attempt (1-based).
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	d := p.InitialInterval
	if d <= 0 {
		d = time.Second
	}
	c := p.BackoffCoefficient
	if c < 1 {
		c = 2
	}
	max := p.MaximumInterval
	if max <= 0 {
		max = 100 * d
	}
	f := float64(d)
	for i := 1; i < attempt; i++ {
		f *= c
		if f >= float64(max) {
			return max
		}
	}
	return min(time.Duration(f), max)
}

// Retryable reports whether err, the failure of the given attempt, leaves
// room for another attempt started at the given time since the first.
func (p RetryPolicy) Retryable(err error, attempt int, elapsed time.Duration) bool {
	if err == nil || errors.Is(err, ErrScheduleTimeout) {
		return false
	}
	if p.MaximumAttempts > 0 && attempt >= p.MaximumAttempts {
		return false
	}
	if p.ScheduleToClose > 0 && elapsed+p.Backoff(attempt) >= p.ScheduleToClose {
		return false
	}
	for _, nr := range p.NonRetryable {
		if errors.Is(err, nr) || sameErrorType(err, nr) {
			return false
		}
	}
	return true
}

// sameErrorType reports whether err has, in its chain, an error of the
// dynamic type of target (a typed nil pointer names a type).
func sameErrorType(err, target error) bool {
	if target == nil {
		return false
	}
	if v := reflect.ValueOf(target); v.Kind() != reflect.Pointer || !v.IsNil() {
		return false // only a typed nil names a type
	}
	tt := errorType(target)
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errorType(e) == tt {
			return true
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				if sameErrorType(x, target) {
					return true
				}
			}
			return false
		}
	}
	return false
}

func errorType(e error) reflect.Type { return reflect.TypeOf(e) }
