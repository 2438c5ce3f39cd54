package cli_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/cli"
	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

type Raise struct{ By string }

var ask = effect.NewProgram("ask", 1, func(who string) effect.Eff[string] {
	return effect.Map(effect.Receive[Raise](), func(r Raise) string { return who + " raised by " + r.By })
})

func registry() *task.Registry {
	r := task.NewRegistry()
	if err := task.Register(r, ask); err != nil {
		panic(err)
	}
	if err := task.RegisterMessage[Raise](r, "test.Raise"); err != nil {
		panic(err)
	}
	return r
}

func amber(t *testing.T, reg *task.Registry, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(args, reg, &out, &errOut)
	return out.String() + errOut.String(), code
}

// TestTaskCommands drives a waiting task from the command line: list, show,
// send (the JSON decoded as the type the task waits for), replay, cancel.
func TestTaskCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "amber.db")
	reg := registry()
	st, err := sqlite.Open(db, nil)
	require.NoError(t, err)
	d, err := interp.NewDurable(st, interp.WithRegistry(reg),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond}))
	require.NoError(t, err)
	defer func() { d.Close(); st.Close() }()
	for _, id := range []string{"q1", "q2"} {
		_, err = interp.StartProgram(d, ask, id, interp.WithID(id))
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		s1, _ := st.Status(ctx, "q1")
		s2, _ := st.Status(ctx, "q2")
		if s1 == task.Waiting && s2 == task.Waiting {
			break
		}
		require.NoError(t, ctx.Err())
		time.Sleep(10 * time.Millisecond)
	}

	out, code := amber(t, reg, "task", "list", "--db", db)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "q1")
	require.Contains(t, out, "receive test.Raise")

	out, code = amber(t, reg, "task", "show", "q1", "--db", db)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "status   waiting")
	require.Contains(t, out, `input    "q1"`)

	out, code = amber(t, reg, "task", "replay", "q1", "--db", db)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "no divergence")

	out, code = amber(t, reg, "task", "send", "q1", `{"By":"ops"}`, "--db", db)
	require.Equal(t, 0, code, out)
	h, ok := d.Task("q1")
	require.True(t, ok)
	v, err := h.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "q1 raised by ops", v)

	out, code = amber(t, reg, "task", "cancel", "q2", "--db", db)
	require.Equal(t, 0, code, out)
	h, ok = d.Task("q2")
	require.True(t, ok)
	_, err = h.Wait(ctx)
	require.ErrorIs(t, err, effect.ErrCancelled)

	// Bad input: clear errors, exit codes.
	out, code = amber(t, nil, "task", "send", "q1", `{"By":"x"}`, "--type", "test.Raise", "--db", db)
	require.Equal(t, 1, code)
	require.Contains(t, out, "not registered in this binary")
	out, code = amber(t, reg, "task", "show", "nope", "--db", db)
	require.Equal(t, 1, code)
	require.True(t, strings.Contains(out, "no such task"), out)
	_, code = amber(t, reg, "frobnicate")
	require.Equal(t, 2, code)
}
