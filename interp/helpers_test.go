package interp_test

import (
	"context"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// journal returns h's journal, failing the test if it cannot be read.
func journal[O any](t require.TestingT, h *interp.Handle[O]) task.Journal {
	j, err := h.Journal()
	require.NoError(t, err, "journal of task %s", h.ID())
	return j
}

// replayEff replays the anonymous program p against j.
func replayEff[A any](ctx context.Context, p effect.Eff[A], j task.Journal, opts ...interp.ReplayOption) (*interp.ReplayResult, error) {
	prog := effect.NewProgram("anonymous", 1, func(effect.Unit) effect.Eff[A] { return p })
	return interp.Replay(ctx, prog, effect.Unit{}, j, opts...)
}

// waitID waits for the stored task id of d.
func waitID(ctx context.Context, d *interp.Durable, id string) (any, error) {
	h, ok := d.Task(id)
	if !ok {
		return nil, &interp.NoTaskError{ID: id}
	}
	return h.Wait(ctx)
}

// asMock and asLive pass options common to every interpreter on to one.
func asMock(opts []interp.Option) []interp.MockOption {
	out := make([]interp.MockOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

func asLive(opts []interp.Option) []interp.LiveOption {
	out := make([]interp.LiveOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}
