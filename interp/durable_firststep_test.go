package interp_test

// The first step of a task, when it only starts activity attempts, is not
// committed (see the Durable doc, # Commits): n sequential activities
// cost n+1 store transactions. These tests check what the store holds
// meanwhile, and that a worker that dies during that first attempt still
// has its task taken over, at attempt 1 under the same idempotency key.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/pgtest"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// firstCalls records the attempts of FirstCharge; while block is set, the
// next attempt waits on it (and clears it: only one attempt blocks).
var firstCalls = struct {
	sync.Mutex
	attempts []int
	keys     []string
	fail     int // attempts that fail before one succeeds
	block    chan struct{}
}{}

// FirstCharge is an activity whose attempts the test can watch, fail and
// hold.
type FirstCharge struct {
	effect.Returns[string]
	N int
}

// RetryPolicy retries a failed attempt after a short backoff.
func (FirstCharge) RetryPolicy() effect.RetryPolicy {
	return effect.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaximumAttempts: 5}
}

func (c FirstCharge) Run(ctx context.Context) (string, error) {
	firstCalls.Lock()
	n := effect.Attempt(ctx)
	firstCalls.attempts = append(firstCalls.attempts, n)
	firstCalls.keys = append(firstCalls.keys, effect.IdempotencyKey(ctx))
	block := firstCalls.block
	firstCalls.block = nil
	fail := firstCalls.fail > 0
	if fail {
		firstCalls.fail--
	}
	firstCalls.Unlock()
	if block != nil {
		<-block
	}
	if fail && block == nil {
		return "", errDeclined
	}
	return "charged", nil
}

func resetFirstCalls(fail int, block chan struct{}) {
	firstCalls.Lock()
	defer firstCalls.Unlock()
	firstCalls.attempts, firstCalls.keys, firstCalls.fail, firstCalls.block = nil, nil, fail, block
}

func firstCallsSeen() ([]int, []string) {
	firstCalls.Lock()
	defer firstCalls.Unlock()
	return append([]int(nil), firstCalls.attempts...), append([]string(nil), firstCalls.keys...)
}

// firstAttemptRuns waits until FirstCharge's first attempt has started.
func firstAttemptRuns(t *testing.T) {
	poll.Eventually(t, func() (bool, error) {
		seen, _ := firstCallsSeen()
		return len(seen) == 1, nil
	}, "the first attempt runs")
}

// firstCharges calls FirstCharge n times in sequence.
var firstCharges = effect.NewProgram("firstcharges", 1, func(n int) effect.Eff[int] {
	return effect.Do(func(e *effect.Ctx) int {
		for i := range n {
			effect.Call(e, FirstCharge{N: i})
		}
		return n
	})
})

func firstRegistry(t *testing.T) *task.Registry {
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, firstCharges))
	return reg
}

// TestDurableFirstStepCommitsNothing: a task of n sequential activities
// costs n+1 store transactions (its create and one commit per result).
// While its first attempt runs, the store holds the task as it was
// created: running, leased to the worker, with no journal and no wait
// (task show prints no attempt and no deadline).
func TestDurableFirstStepCommitsNothing(t *testing.T) {
	block := make(chan struct{})
	resetFirstCalls(0, block)
	sq := openSQLite(t, "")
	st, count := storetest.Count(sq)
	d, err := interp.NewDurable(st, interp.WithRegistry(firstRegistry(t)), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	const n = 3
	_, err = interp.StartProgram(d, firstCharges, n, interp.WithID("first"))
	require.NoError(t, err)
	firstAttemptRuns(t)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec, _, err := sq.Load(ctx, "first")
	require.NoError(t, err)
	require.Equal(t, task.Running, rec.Status, "the task is stored as created")
	require.Empty(t, rec.Journal)
	require.Nil(t, rec.Wait, "no attempt is stored: it is recorded by the commit of its result")
	require.True(t, rec.RunAt.IsZero(), "no deadline")
	require.Equal(t, int64(0), count.Tally().Commit, "the first step commits nothing")

	close(block)
	v, err := waitID(ctx, d, "first")
	require.NoError(t, err)
	require.Equal(t, n, v)
	tally := count.Tally()
	require.Equal(t, int64(1), tally.Create)
	require.Equal(t, int64(n), tally.Commit, "one commit per result, the last one with the end")
	require.Equal(t, int64(0), tally.Claim+tally.ClaimID, "the create's lease is kept throughout")
	seen, keys := firstCallsSeen()
	require.Equal(t, []int{1, 1, 1}, seen)
	require.Equal(t, []string{"first/1/0", "first/2/0", "first/3/0"}, keys)
}

// cutOff is a store that a worker loses at once, as a worker that dies
// does: after cut, everything it would write fails, its claims and
// commits included.
type cutOff struct {
	store.Store
	cut atomic.Bool
}

var errCut = errors.New("test: the worker is cut off from the store")

func (s *cutOff) Claim(ctx context.Context, owner string, max int, now time.Time, lease time.Duration, can ...task.ProgramVersion) ([]store.Lease, error) {
	if s.cut.Load() {
		return nil, errCut
	}
	return s.Store.Claim(ctx, owner, max, now, lease, can...)
}

func (s *cutOff) ClaimID(ctx context.Context, owner, id string, now time.Time, lease time.Duration) (store.Lease, error) {
	if s.cut.Load() {
		return store.Lease{}, errCut
	}
	return s.Store.ClaimID(ctx, owner, id, now, lease)
}

func (s *cutOff) Renew(ctx context.Context, owner string, now time.Time, lease time.Duration, ls ...store.Lease) ([]string, error) {
	if s.cut.Load() {
		return nil, errCut
	}
	return s.Store.Renew(ctx, owner, now, lease, ls...)
}

func (s *cutOff) Commit(ctx context.Context, steps []store.Step) ([]error, error) {
	if s.cut.Load() {
		return nil, errCut
	}
	return s.Store.Commit(ctx, steps)
}

func (s *cutOff) Landed(ctx context.Context, step store.Step) (store.Outcome, error) {
	if s.cut.Load() {
		return 0, errCut
	}
	return s.Store.Landed(ctx, step)
}

func (s *cutOff) Heartbeat(ctx context.Context, w store.WorkerInfo) error {
	if s.cut.Load() {
		return errCut
	}
	return s.Store.Heartbeat(ctx, w)
}

// TestDurableFirstAttemptTakenOver: the worker that started a task dies
// during its first attempt, which no commit recorded. Another worker takes
// the task over when the lease of the create expires, and runs the
// attempt again: attempt 1, under the same idempotency key.
func TestDurableFirstAttemptTakenOver(t *testing.T) {
	firstAttemptTakenOver(t, openSQLite(t, ""))
}

// TestDurableFirstAttemptTakenOverPostgres: the same on PostgreSQL, where
// the survivor is another worker process in production.
func TestDurableFirstAttemptTakenOverPostgres(t *testing.T) {
	pgtest.URL(t)
	firstAttemptTakenOver(t, pgtest.Open(t, "interp_first_"))
}

func firstAttemptTakenOver(t *testing.T, sq store.Store) {
	block := make(chan struct{})
	resetFirstCalls(0, block)
	defer func() {
		select {
		case <-block:
		default:
			close(block)
		}
	}()
	reg := firstRegistry(t)
	lease := interp.DurableOptions{Lease: 2 * time.Second, Poll: 10 * time.Millisecond}
	doomedStore := &cutOff{Store: sq}
	lease.Owner = "doomed"
	doomed, err := interp.NewDurable(doomedStore, interp.WithRegistry(reg), interp.WithLogger(quiet), interp.WithDurableOptions(lease))
	require.NoError(t, err)
	defer doomed.Close()
	_, err = interp.StartProgram(doomed, firstCharges, 1, interp.WithID("taken"))
	require.NoError(t, err)
	firstAttemptRuns(t)
	doomedStore.cut.Store(true) // the worker dies, its attempt running

	lease.Owner = "survivor"
	survivor, err := interp.NewDurable(sq, interp.WithRegistry(reg), interp.WithLogger(quiet), interp.WithDurableOptions(lease))
	require.NoError(t, err)
	defer survivor.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := waitID(ctx, survivor, "taken")
	require.NoError(t, err)
	require.Equal(t, 1, v)
	seen, keys := firstCallsSeen()
	require.Equal(t, []int{1, 1}, seen, "the attempt ran again under its number")
	require.Equal(t, []string{"taken/1/0", "taken/1/0"}, keys, "under the same idempotency key")
}

// TestDurableFirstAttemptRestart: the worker stops during the first
// attempt; the next worker on the file runs the task at once (the leases
// of a dead predecessor are released when the file is opened; a Close
// releases them too), at attempt 1 under the same key.
func TestDurableFirstAttemptRestart(t *testing.T) {
	block := make(chan struct{})
	resetFirstCalls(0, block)
	defer close(block)
	path := t.TempDir() + "/amber.db"
	reg := firstRegistry(t)
	opts := interp.WithDurableOptions(interp.DurableOptions{Lease: time.Hour, Poll: 10 * time.Millisecond})
	st := openSQLite(t, path)
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), opts)
	require.NoError(t, err)
	_, err = interp.StartProgram(d, firstCharges, 2, interp.WithID("restart"))
	require.NoError(t, err)
	firstAttemptRuns(t)
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())

	st = openSQLite(t, path)
	d, err = interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), opts)
	require.NoError(t, err)
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := waitID(ctx, d, "restart")
	require.NoError(t, err, "resumed without waiting out the hour-long lease")
	require.Equal(t, 2, v)
	seen, keys := firstCallsSeen()
	require.Equal(t, []int{1, 1, 1}, seen)
	require.Equal(t, []string{"restart/1/0", "restart/1/0", "restart/2/0"}, keys)
}

// committed is a store that keeps the steps committed.
type committed struct {
	store.Store
	mu    sync.Mutex
	steps []store.Step
}

func (s *committed) Commit(ctx context.Context, steps []store.Step) ([]error, error) {
	errs, err := s.Store.Commit(ctx, steps)
	if err == nil {
		s.mu.Lock()
		for i, st := range steps {
			if i >= len(errs) || errs[i] == nil {
				s.steps = append(s.steps, st)
			}
		}
		s.mu.Unlock()
	}
	return errs, err
}

// TestDurableFirstAttemptFailureStored: a first attempt that fails is
// stored, in backoff, before the retry waits: the step that takes a
// failure commits, the first step alone does not.
func TestDurableFirstAttemptFailureStored(t *testing.T) {
	resetFirstCalls(1, nil)
	st := &committed{Store: openSQLite(t, "")}
	d, err := interp.NewDurable(st, interp.WithRegistry(firstRegistry(t)), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	_, err = interp.StartProgram(d, firstCharges, 1, interp.WithID("retry"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := waitID(ctx, d, "retry")
	require.NoError(t, err)
	require.Equal(t, 1, v)
	seen, keys := firstCallsSeen()
	require.Equal(t, []int{1, 2}, seen)
	require.Equal(t, keys[0], keys[1])

	// The task's end is read from the store, which has it a moment before
	// the wrapper keeps its step.
	poll.Eventually(t, func() (bool, error) {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.steps) > 0 && st.steps[len(st.steps)-1].Status == task.Done, nil
	}, "the end is committed")
	st.mu.Lock()
	defer st.mu.Unlock()
	first := st.steps[0]
	require.Empty(t, first.Append)
	require.Equal(t, task.Waiting, first.Status)
	require.NotNil(t, first.Wait)
	require.Len(t, first.Wait.Ops, 1)
	op := first.Wait.Ops[0]
	require.Equal(t, task.PhaseBackoff, op.Phase, "the first commit stores the failed attempt, in backoff")
	require.Equal(t, 1, op.Attempt)
	require.Equal(t, first.RunAt, op.Until, "the retry's time")
}
