package interp

import (
	"context"
	"fmt"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// ReplayResult is the outcome of a replay.
type ReplayResult struct {
	// Done reports whether the program finished within the journal; then
	// Result and Err are its outcome.
	Done   bool
	Result any
	Err    error
	// Pending lists the ops the program waits on where the journal ends,
	// if it did not finish: a suspended task's next steps.
	Pending []effect.Pending
	// Journal is the journal as the replay consumed it.
	Journal task.Journal
	// Unpatched names the patches (effect.Patched) that the task answered
	// false because its journal was recorded before them: the task takes
	// their old branch.
	Unpatched []string
	// Swaps lists the calls that ran under another version (WithRoute),
	// in order.
	Swaps []Swap
}

// Replay runs the program p on input against journal j without performing
// anything: every op's result is the recorded one, so the live world (the
// clock, the STM vars, other tasks, the outside world) is never touched and
// Log ops are not written again. If the program issues an op other than
// the one recorded, Replay returns a *DivergenceError naming the sequence
// number and both ops. (An anonymous program can be replayed as a named
// one: effect.NewProgram wraps it.)
func Replay(ctx context.Context, p effect.AnyProgram, input any, j task.Journal, opts ...ReplayOption) (*ReplayResult, error) {
	m, err := p.Start(input)
	if err != nil {
		return nil, err
	}
	cfg := newConfig(opts, ReplayOption.replayOption)
	return replayMachine(ctx, "replay", p, m, j, cfg)
}

// ReplayVersion makes ReplayRecord replay the task against version v of
// its program instead of the version the task runs: the way to check,
// before a deploy, that a new version fits an in-flight task.
func ReplayVersion(v int) ReplayOption { return replayOnly(func(c *config) { c.version = v }) }

// ReplayRecord replays a stored task against its own journal, with its
// program looked up by name and version in the registry given by
// WithRegistry (ReplayVersion chooses another version).
func ReplayRecord(ctx context.Context, rec *task.Record, opts ...ReplayOption) (*ReplayResult, error) {
	cfg := newConfig(opts, ReplayOption.replayOption)
	version := rec.Version
	if cfg.version > 0 {
		version = cfg.version
	}
	p, err := cfg.resolver.Program(rec.Program, version)
	if err != nil {
		return nil, err
	}
	in, err := task.DecodeInput(p, rec.Input)
	if err != nil {
		return nil, fmt.Errorf("interp: task %s: input: %w", rec.ID, err)
	}
	m, err := p.Start(in)
	if err != nil {
		return nil, err
	}
	return replayMachine(ctx, rec.ID, p, m, rec.Journal, cfg)
}

func replayMachine(ctx context.Context, id string, p effect.AnyProgram, m *effect.Machine, j task.Journal, cfg config) (*ReplayResult, error) {
	cfg.logger = nil // a replay writes no logs
	return newMock(cfg).replay(ctx, id, p, m, j, true)
}

// replay runs machine m of program p against journal j on the mock, as
// task id, and forgets the task afterwards: a mock can replay many
// journals one after the other. record keeps the journal as the replay
// consumed it (ReplayResult.Journal); a check does without.
func (mock *Mock) replay(ctx context.Context, id string, p effect.AnyProgram, m *effect.Machine, j task.Journal, record bool) (*ReplayResult, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	t, err := mock.e.newTask(id, p, nil, m)
	if err != nil {
		return nil, err
	}
	defer mock.e.forget(t)
	t.replay, t.replayEnd, t.record = j, true, record
	mock.e.launch(t, nil)
	mock.RunUntilIdle()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.failure != nil {
		return nil, t.failure
	}
	res := &ReplayResult{Journal: t.entries()}
	if rs := t.rare; rs != nil {
		res.Unpatched, res.Swaps = rs.unpatched, rs.swaps
	}
	if v, err, finished := t.outcome(); finished {
		res.Done, res.Result, res.Err = true, v, err
		return res, nil
	}
	res.Pending = append(res.Pending, t.m.Pending()...)
	return res, nil
}
