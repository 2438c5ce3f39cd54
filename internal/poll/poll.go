// Package poll waits for a condition on state: a stored status, a count,
// a task that took a name. It is the one way amber's tests and examples
// wait for what another goroutine or process does, instead of sleeping for
// a time that is too long on a fast machine and too short on a loaded one.
//
// # Use
//
// An example (or any program) waits under its own context:
//
//	err := poll.Until(ctx, func() (bool, error) {
//		s, err := st.Status(ctx, id)
//		return s == task.Waiting, err
//	})
//
// A test waits with a generous deadline and fails with a message that says
// what it waited for:
//
//	poll.Eventually(t, func() (bool, error) { ... }, "task %s waits", id)
//
// # Caveats
//
// A condition is checked again after a short pause that grows from a
// millisecond to MaxInterval, so it should be cheap (one store read). An
// error from the condition ends the wait at once: a store that cannot be
// read will not become readable by asking again.
package poll

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// MaxInterval is the longest pause between two checks of a condition.
const MaxInterval = 20 * time.Millisecond

// Deadline is how long Eventually waits before it fails the test: long,
// because a shared and loaded machine is slow, and a condition that holds
// ends the wait at once anyway.
const Deadline = time.Minute

// Until calls cond until it reports true, returns an error, or ctx ends.
// The error is cond's, or one that wraps ctx's error.
func Until(ctx context.Context, cond func() (bool, error)) error {
	for pause := time.Millisecond; ; pause = min(2*pause, MaxInterval) {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("poll: the condition did not hold: %w", ctx.Err())
		case <-time.After(pause):
		}
	}
}

// TB is what Eventually needs of a test: a testing.TB, or a *rapid.T in
// a property test.
type TB interface {
	// Helper marks the caller as a test helper.
	Helper()
	// Fatalf reports the failure and stops the test.
	Fatalf(format string, args ...any)
}

var _ TB = testing.TB(nil)

// Eventually waits, for at most Deadline, until cond holds, and fails t
// (t.Fatalf) if it does not or if cond returns an error. The message,
// formatted from format and args, says what the test waited for.
func Eventually(t TB, cond func() (bool, error), format string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	if err := Until(ctx, cond); err != nil {
		t.Fatalf("waiting until %s: %v", fmt.Sprintf(format, args...), err)
	}
}
