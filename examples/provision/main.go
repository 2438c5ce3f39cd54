// Command provision provisions machines with an activity that the cloud
// refuses now and then: transient errors are retried with backoff, and a
// quota error makes the task wait — durably, for days if need be — for a
// person to raise the quota and say so with a message. No dead-letter
// queue, no polling.
//
//	go run ./examples/provision
//	go run ./cmd/amber task send ID '{"By":"ops"}' --type provision.QuotaRaised   # what the person would do
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// ErrQuota is the cloud's refusal: more machines than the quota allows.
var ErrQuota = errors.New("quota exceeded")

// errFlaky is a transient failure of the cloud's API.
var errFlaky = errors.New("503 service unavailable")

// cloud simulates the provider: a quota, and an API that fails every
// other call at first.
var cloud = struct {
	quota   atomic.Int64
	calls   atomic.Int64
	mu      sync.Mutex
	created map[string]bool // by idempotency key: a retried create is recognised
}{created: map[string]bool{}}

// CreateVMs asks the cloud for N machines.
type CreateVMs struct {
	effect.Returns[int]
	N int
}

// Run calls the cloud.
func (c CreateVMs) Run(ctx context.Context) (int, error) {
	if cloud.calls.Add(1)%2 == 1 && effect.Attempt(ctx) < 3 {
		return 0, errFlaky
	}
	if int64(c.N) > cloud.quota.Load() {
		return 0, fmt.Errorf("creating %d machines: %w", c.N, ErrQuota)
	}
	cloud.mu.Lock()
	defer cloud.mu.Unlock()
	cloud.created[effect.IdempotencyKey(ctx)] = true
	return c.N, nil
}

// RetryPolicy: retry transient errors with backoff; a quota error is for
// a person to fix.
func (CreateVMs) RetryPolicy() effect.RetryPolicy {
	return effect.RetryPolicy{
		InitialInterval:    50 * time.Millisecond,
		BackoffCoefficient: 2,
		MaximumAttempts:    5,
		NonRetryable:       []error{ErrQuota},
	}
}

// QuotaRaised tells a waiting task that a person raised the quota.
type QuotaRaised struct{ By string }

var provision = effect.NewProgram("provision", 1, func(n int) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		for {
			got, err := effect.Try(e, effect.Perform(CreateVMs{N: n}))
			if err == nil {
				return fmt.Sprintf("%d machines running", got)
			}
			if !errors.Is(err, ErrQuota) {
				panic(err) // fails the task, with the error in its record
			}
			e.Log(slog.LevelWarn, "quota exceeded: waiting for a person to raise it", "want", n)
			raised := effect.Await(e, effect.Receive[QuotaRaised]())
			e.Log(slog.LevelInfo, "quota raised, trying again", "by", raised.By)
		}
	})
})

// Registry holds this program's programs, messages and errors.
func Registry() *task.Registry {
	r := task.NewRegistry()
	for _, err := range []error{
		task.Register(r, provision),
		task.RegisterMessage[QuotaRaised](r, "provision.QuotaRaised"),
		task.RegisterError(r, "provision.ErrQuota", ErrQuota),
	} {
		if err != nil {
			panic(err)
		}
	}
	return r
}

func main() {
	db := flag.String("db", "./amber.db", "SQLite file")
	flag.Parse()
	if err := run(context.Background(), *db, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "provision:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, db string, out io.Writer) error {
	st, err := sqlite.Open(db, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	d, err := interp.NewDurable(st, interp.WithRegistry(Registry()), interp.WithLogger(logger),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 50 * time.Millisecond}))
	if err != nil {
		return err
	}
	defer d.Close()

	cloud.quota.Store(2)
	id := "provision-" + time.Now().UTC().Format("150405.000")
	if _, err := interp.StartProgram(d, provision, 5, interp.WithID(id)); err != nil {
		return err
	}
	// The task hits the quota and waits. A person raises the quota and
	// tells it (from the shell: amber task send ID '{"By":"ops"}').
	for {
		rec, _, err := st.Load(ctx, id)
		if err != nil {
			return err
		}
		if rec.Wait != nil && rec.Wait.Kind == task.WaitReceive {
			fmt.Fprintf(out, "%s waits for: %v\n", id, rec.Wait.Types)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cloud.quota.Store(10)
	if err := d.Send(id, QuotaRaised{By: "ops"}); err != nil {
		return err
	}
	h, err := interp.Attach(d, provision, id)
	if err != nil {
		return err
	}
	v, err := h.Wait(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %v (the cloud was called %d times)\n", id, v, cloud.calls.Load())
	return nil
}
