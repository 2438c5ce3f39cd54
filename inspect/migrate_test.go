package inspect_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/amberrt/amber/inspect"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// TestMigrateAction: the task page offers the other registered versions
// of the task's program, and migrates the task only to one its journal
// fits (ask v3), refusing one it does not (v2, which diverges at entry 1)
// and an unknown one, changing nothing then.
func TestMigrateAction(t *testing.T) {
	ctx := context.Background()
	st, _ := sqliteStore(t)
	runTo(t, st, registry(), ask, "eve", "mig-1", task.Waiting)

	reg := registry()
	require.NoError(t, task.Register(reg, askV2))
	require.NoError(t, task.Register(reg, askV3))
	h := newServer(t, st, inspect.Options{Registry: reg})
	page := get(h, taskURL("mig-1"))
	require.Contains(t, page.body, `action="/tasks/mig-1/migrate"`)
	require.Contains(t, page.body, `<option value="2">2</option><option value="3">3</option>`)
	tok := csrf(t, h, "mig-1")
	version := func() (int, int) {
		rec, _, err := st.Load(ctx, "mig-1")
		require.NoError(t, err)
		return rec.Version, len(rec.Migrations)
	}

	for _, c := range []struct {
		to   string
		code int
		says string
	}{
		{"2", http.StatusConflict, "version 2 does not fit this task&#39;s journal"},
		{"9", http.StatusBadRequest, "Not migrated"},
		{"", http.StatusBadRequest, "choose the version"},
	} {
		r := do(h, http.MethodPost, taskURL("mig-1")+"/migrate", url.Values{"csrf": {tok}, "to": {c.to}})
		require.Equal(t, c.code, r.code, "to %q: %s", c.to, r.body)
		require.Contains(t, r.body, c.says, "to %q", c.to)
		v, n := version()
		require.Equal(t, 1, v, "to %q", c.to)
		require.Zero(t, n, "to %q", c.to)
	}
	r := do(h, http.MethodPost, taskURL("mig-1")+"/migrate", url.Values{"to": {"3"}})
	require.Equal(t, http.StatusForbidden, r.code, "no form token")
	require.Equal(t, http.StatusMethodNotAllowed, get(h, taskURL("mig-1")+"/migrate").code)

	r = do(h, http.MethodPost, taskURL("mig-1")+"/migrate", url.Values{"csrf": {tok}, "to": {"3"}})
	require.Equal(t, http.StatusSeeOther, r.code, r.body)
	v, n := version()
	require.Equal(t, 3, v)
	require.Equal(t, 1, n, "the move is recorded in the task")
}
