package interp_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/interp/interptest"
	"github.com/stretchr/testify/require"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func runCase(t *testing.T, rt interp.Runtime, c interptest.Case) interptest.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tk, err := interp.StartAny(rt, c.Program, c.Input)
	require.NoError(t, err)
	for _, msg := range c.Messages {
		require.NoError(t, rt.Send(tk.ID(), msg))
	}
	v, err := tk.Wait(ctx)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	return interptest.Outcome{Result: v, Err: err, Journal: journal(t, tk)}
}

func TestConformanceMock(t *testing.T) {
	interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
		return runCase(t, interp.NewMock(interp.WithHandlers(c.Handlers...), interp.WithRegistry(c.Registry)), c)
	})
}

func TestConformanceLive(t *testing.T) {
	interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
		l := interp.NewLive(interp.WithHandlers(c.Handlers...), interp.WithRegistry(c.Registry), interp.WithJournal(), interp.WithLogger(quiet))
		defer l.Close()
		return runCase(t, l, c)
	})
}

// TestConformanceReplay records each case under the mock, replays the
// journal, and reports what the replay saw.
func TestConformanceReplay(t *testing.T) {
	interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
		rec := runCase(t, interp.NewMock(interp.WithHandlers(c.Handlers...), interp.WithRegistry(c.Registry)), c)
		r, err := interp.Replay(context.Background(), c.Program, c.Input, rec.Journal, interp.WithRegistry(c.Registry))
		require.NoError(t, err)
		require.True(t, r.Done, "the program finishes within its journal")
		require.Equal(t, rec.Journal, r.Journal, "replay reproduces the journal")
		return interptest.Outcome{Result: r.Result, Err: r.Err, Journal: r.Journal}
	})
}
