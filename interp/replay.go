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
}

// Replay runs the program p on input against journal j without performing
// anything: every op's result is the recorded one, so the live world (the
// clock, the STM vars, other tasks, the outside world) is never touched and
// Log ops are not written again. If the program issues an op other than
// the one recorded, Replay returns a *DivergenceError naming the sequence
// number and both ops.
func Replay(ctx context.Context, p effect.AnyProgram, input any, j task.Journal, opts ...Option) (*ReplayResult, error) {
	m, err := p.Start(input)
	if err != nil {
		return nil, err
	}
	return replayMachine(ctx, "replay", p, m, j, opts)
}

// ReplayEff replays the anonymous program p against journal j; see Replay.
func ReplayEff[A any](ctx context.Context, p effect.Eff[A], j task.Journal, opts ...Option) (*ReplayResult, error) {
	return replayMachine(ctx, "replay", nil, effect.NewMachine(p), j, opts)
}

// ReplayRecord replays a stored task against its own journal, with the
// program looked up in the registry given by WithRegistry. Pass version >
// 0 to replay it against another version of its program instead: the way
// to check, before a deploy, that a new version fits an in-flight task.
func ReplayRecord(ctx context.Context, rec *task.Record, version int, opts ...Option) (*ReplayResult, error) {
	cfg := newConfig(opts)
	if version <= 0 {
		version = rec.Version
	}
	p, err := cfg.registry.Program(rec.Program, version)
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
	return replayMachine(ctx, rec.ID, p, m, rec.Journal, opts)
}

func replayMachine(ctx context.Context, id string, p effect.AnyProgram, m *effect.Machine, j task.Journal, opts []Option) (*ReplayResult, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	mock := NewMock(opts...)
	t, err := mock.e.newTask(id, p, nil, m)
	if err != nil {
		return nil, err
	}
	t.replay, t.replayEnd, t.record = j, true, true
	mock.e.launch(t, nil)
	mock.RunUntilIdle()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.failure != nil {
		return nil, t.failure
	}
	res := &ReplayResult{Journal: t.Journal()}
	if v, err, finished := t.Result(); finished {
		res.Done, res.Result, res.Err = true, v, err
		return res, nil
	}
	res.Pending = append(res.Pending, t.m.Pending()...)
	return res, nil
}
