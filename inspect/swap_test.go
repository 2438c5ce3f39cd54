package inspect_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/inspect"
	"github.com/amberrt/amber/router"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// TestReplaySwap: the replay debugger replays a task with one routed
// function swapped to another version (interp.WithRoute), and shows what
// the swapped call did, in a sandbox.
func TestReplaySwap(t *testing.T) {
	fetcher := router.New[string, string]("fetcher")
	router.Register(fetcher, "1", func(u string) effect.Eff[string] { return effect.Perform(Fetch{URL: u}) })
	router.Register(fetcher, "2", func(u string) effect.Eff[string] { return effect.Perform(Fetch{URL: u + "/v2"}) })
	prog := effect.NewProgram("routed", 1, func(u string) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string { return "got " + router.Call(e, fetcher, u) })
	})
	reg := registry()
	require.NoError(t, task.Register(reg, prog))
	st, _ := sqliteStore(t)
	runTo(t, st, reg, prog, "page", "routed-1", task.Done)

	h := newServer(t, st, inspect.Options{Registry: reg})
	r := get(h, "/tasks/routed-1/replay")
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.Contains(t, r.body, `<option value="fetcher">fetcher (1 calls, the first at #1 on 1)</option>`)
	r = get(h, "/tasks/routed-1/replay?swap=fetcher&to=2")
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.Contains(t, r.body, "A call of <code>fetcher</code> ran under version 2 in a sandbox")
	require.Equal(t, 1, strings.Count(r.body, "A call of <code>fetcher</code> ran under version 2"), "the one call is shown once")
	require.Contains(t, r.body, `{&#34;URL&#34;: &#34;page/v2&#34;}`, "the swapped version's op")
	require.Contains(t, r.body, `href="/tasks/routed-1/replay?step=1&amp;swap=fetcher&amp;to=2"`, "steps keep the swap")
	r = get(h, "/tasks/routed-1/replay?swap=fetcher")
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Contains(t, r.body, "Name the version")
}
