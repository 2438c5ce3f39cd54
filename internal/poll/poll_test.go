package poll_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/amberrt/amber/internal/poll"
)

func TestUntilHolds(t *testing.T) {
	var n atomic.Int64
	go func() {
		for range 5 {
			n.Add(1)
		}
	}()
	err := poll.Until(context.Background(), func() (bool, error) { return n.Load() == 5, nil })
	if err != nil {
		t.Fatalf("Until: %v", err)
	}
}

func TestUntilStopsOnError(t *testing.T) {
	boom := errors.New("boom")
	calls := 0
	err := poll.Until(context.Background(), func() (bool, error) {
		calls++
		if calls == 3 {
			return false, boom
		}
		return false, nil
	})
	if !errors.Is(err, boom) || calls != 3 {
		t.Fatalf("Until = %v after %d calls, want boom after 3", err, calls)
	}
}

func TestUntilStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := poll.Until(ctx, func() (bool, error) {
		calls++
		if calls == 2 {
			cancel()
		}
		return false, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Until = %v, want an error wrapping context.Canceled", err)
	}
}

// fatal records a t.Fatalf instead of failing.
type fatal struct {
	testing.TB
	msg string
}

func (f *fatal) Helper() {}

func (f *fatal) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestEventuallyReportsWhat(t *testing.T) {
	f := &fatal{TB: t}
	poll.Eventually(f, func() (bool, error) { return false, errors.New("store closed") }, "task %s waits", "t1")
	if want := "waiting until task t1 waits: store closed"; f.msg != want {
		t.Fatalf("Eventually reported %q, want %q", f.msg, want)
	}
}

func ExampleUntil() {
	var ready atomic.Bool
	go ready.Store(true)
	err := poll.Until(context.Background(), func() (bool, error) { return ready.Load(), nil })
	fmt.Println(err)
	// Output: <nil>
}
