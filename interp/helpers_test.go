package interp_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// quiet is the logger of tests whose programs' Log ops nobody reads.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// knownBug skips t, naming bug (a bug of an interpreter that t finds,
// "known bug: ..."), unless AMBER_TEST_KNOWN_BUGS is set: the test stays,
// and runs again once the bug is fixed and the skip removed.
func knownBug(t *testing.T, bug string) {
	t.Helper()
	if os.Getenv("AMBER_TEST_KNOWN_BUGS") == "" {
		t.Skip(bug)
	}
}

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

// logLines is a log destination that tests read: slog.New(slog.NewTextHandler(logs, nil)).
type logLines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
