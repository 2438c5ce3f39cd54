package interp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/interp/interptest"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// editOp is one op of a generated program.
type editOp struct {
	Kind int // 0 activity, 1 log, 2 now
	N    int
}

func (o editOp) String() string { return fmt.Sprintf("%d:%d", o.Kind, o.N) }

// editProgram runs ops, then waits for a message.
func editProgram(ops []editOp) *effect.Program[int, string] {
	return effect.NewProgram("edited", 1, func(int) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			sum := 0
			for _, op := range ops {
				switch op.Kind {
				case 0:
					sum += effect.Call(e, interptest.Double{N: op.N})
				case 1:
					e.Log(slog.LevelInfo, "op", "n", op.N)
				default:
					e.Now()
				}
			}
			return fmt.Sprint(sum, " ", effect.Await(e, effect.Receive[string]()))
		})
	})
}

func genOps(t *rapid.T, label string) []editOp {
	return rapid.SliceOfN(rapid.Custom(func(t *rapid.T) editOp {
		return editOp{Kind: rapid.IntRange(0, 2).Draw(t, "kind"), N: rapid.IntRange(0, 3).Draw(t, "n")}
	}), 0, 6).Draw(t, label)
}

// edit applies one random edit: insert, delete, change or swap an op.
func edit(t *rapid.T, ops []editOp) []editOp {
	out := append([]editOp(nil), ops...)
	op := editOp{Kind: rapid.IntRange(0, 2).Draw(t, "new kind"), N: rapid.IntRange(0, 3).Draw(t, "new n")}
	switch kind := rapid.IntRange(0, 3).Draw(t, "edit"); {
	case kind == 0 || len(out) == 0:
		i := rapid.IntRange(0, len(out)).Draw(t, "at")
		out = append(out[:i], append([]editOp{op}, out[i:]...)...)
	case kind == 1:
		i := rapid.IntRange(0, len(out)-1).Draw(t, "at")
		out = append(out[:i], out[i+1:]...)
	case kind == 2:
		out[rapid.IntRange(0, len(out)-1).Draw(t, "at")] = op
	default:
		i, j := rapid.IntRange(0, len(out)-1).Draw(t, "i"), rapid.IntRange(0, len(out)-1).Draw(t, "j")
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// TestPropertyDurableEdits: for random programs and random edits of them
// (an op inserted, deleted, changed or moved), a durable worker never
// panics, and parks a task as Diverged exactly when Replay of its journal
// against the edited program reports a divergence, at the same sequence
// number; otherwise the task finishes.
func TestPropertyDurableEdits(t *testing.T) {
	dir := t.TempDir()
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		ops := genOps(rt, "ops")
		edited := edit(rt, ops)
		path := filepath.Join(dir, fmt.Sprintf("edit-%d.db", n))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		reg := task.NewRegistry()
		require.NoError(rt, task.Register(reg, editProgram(ops)))
		st := openSQLite(t, path)
		d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
		require.NoError(rt, err)
		h, err := interp.StartProgram(d, editProgram(ops), 0)
		require.NoError(rt, err)
		poll.Eventually(rt, func() (bool, error) {
			rec, _, err := st.Load(ctx, h.ID())
			return err == nil && rec.Wait != nil && rec.Wait.Kind == task.WaitReceive, err
		}, "the task waits for its message")
		require.NoError(rt, d.Close())
		rec, _, err := st.Load(ctx, h.ID())
		require.NoError(rt, err)

		reg2 := task.NewRegistry()
		require.NoError(rt, task.Register(reg2, editProgram(edited)))
		_, replayErr := interp.ReplayRecord(ctx, rec, interp.WithRegistry(reg2))
		var want *interp.DivergenceError
		diverges := errors.As(replayErr, &want)
		if replayErr != nil && !diverges {
			rt.Fatalf("replay: %v", replayErr)
		}

		d2, err := interp.NewDurable(st, interp.WithRegistry(reg2), interp.WithLogger(quiet), fastDurable)
		require.NoError(rt, err)
		defer d2.Close()
		require.NoError(rt, d2.Send(h.ID(), "go"))
		poll.Eventually(rt, func() (bool, error) {
			s := statusOf(t, st, h.ID())
			return s.Final() || s == task.Diverged, nil
		}, "the task finishes or diverges (ops %v edited to %v, replay: %v)", ops, edited, replayErr)
		got, _, err := st.Load(ctx, h.ID())
		require.NoError(rt, err)
		if !diverges {
			require.Equal(rt, task.Done, got.Status, "ops %v edited to %v: %s", ops, edited, got.Reason)
			return
		}
		require.Equal(rt, task.Diverged, got.Status, "ops %v edited to %v", ops, edited)
		var de *interp.DivergenceError
		require.True(rt, errors.As(reg2.DecodeError(got.Err), &de))
		require.Equal(rt, want.Seq, de.Seq, "ops %v edited to %v", ops, edited)
		require.Equal(rt, want.Recorded, de.Recorded)
		require.Equal(rt, want.Issued, de.Issued)
	})
}
