package inspect_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/inspect"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// The journal length of the long task, and the journal page size: the
// long task's journal spans three pages.
const (
	longN       = 450
	journalPage = 200
)

func sqliteStore(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "amber.db")
	st, err := sqlite.Open(path, nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st, path
}

// postgresStore opens a store in a schema of its own, dropped at cleanup,
// or skips the test without AMBER_TEST_POSTGRES.
func postgresStore(t *testing.T) *postgres.Store {
	t.Helper()
	base := os.Getenv("AMBER_TEST_POSTGRES")
	if base == "" {
		t.Skip("set AMBER_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the inspector against PostgreSQL")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "amber_inspect_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	st, err := postgres.Open(ctx, base, &postgres.Options{Schema: schema})
	require.NoError(t, err)
	t.Cleanup(func() {
		st.Close()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return st
}

func newServer(t *testing.T, st store.Store, o inspect.Options) *inspect.Server {
	t.Helper()
	o.Store = st
	if o.Registry == nil {
		o.Registry = registry()
	}
	if o.JournalPage == 0 {
		o.JournalPage = journalPage
	}
	s, err := inspect.New(o)
	require.NoError(t, err)
	return s
}

type response struct {
	code int
	body string
	h    http.Header
}

// do serves one request addressed to the loopback default address.
func do(h http.Handler, method, target string, form url.Values, header ...string) response {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	r.Host = inspect.DefaultAddr
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return response{w.Code, w.Body.String(), w.Result().Header}
}

func get(h http.Handler, target string) response { return do(h, http.MethodGet, target, nil) }

func taskURL(id string) string { return "/tasks/" + url.PathEscape(id) }

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf reads the form token from a task page.
func csrf(t *testing.T, h http.Handler, id string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(get(h, taskURL(id)).body)
	require.NotNil(t, m, "no form token on the page of %s", id)
	return m[1]
}

// TestPagesSQLite and TestPagesPostgres check every page against a store
// holding tasks in every status.
func TestPagesSQLite(t *testing.T) {
	st, _ := sqliteStore(t)
	testPages(t, st)
}

func TestPagesPostgres(t *testing.T) {
	testPages(t, postgresStore(t))
}

func testPages(t *testing.T, st store.Store) {
	reg := registry()
	populate(t, st, reg, longN)
	h := newServer(t, st, inspect.Options{Registry: reg, PageSize: 4})

	t.Run("root", func(t *testing.T) {
		r := get(h, "/")
		require.Equal(t, http.StatusSeeOther, r.code)
		require.Equal(t, "/tasks", r.h.Get("Location"))
	})

	t.Run("list", func(t *testing.T) {
		all := newServer(t, st, inspect.Options{Registry: reg})
		r := get(all, "/tasks")
		require.Equal(t, http.StatusOK, r.code, r.body)
		for _, id := range []string{waitingID, slashID, fanoutID, flakyID, doneID, failedID, cancelledID, parkedID, runningID, longID} {
			require.Contains(t, r.body, `href="`+taskURL(id)+`"`, id)
		}
		require.Contains(t, r.body, "ask-&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
		require.NotContains(t, r.body, hostile)
		require.Contains(t, r.body, "11 tasks:")
		for status, n := range map[string]string{"running": "1", "waiting": "6", "parked": "1", "done": "1", "failed": "1", "cancelled": "1"} {
			require.Regexp(t, `status-`+status+`[^"]*" href="[^"]*">`+status+` <b>`+n+`</b>`, r.body, status)
		}
		require.Contains(t, r.body, `data-live`)
	})

	rows := func(body string) []string {
		var ids []string
		for _, m := range regexp.MustCompile(`class="task-link" href="/tasks/([^"]+)"`).FindAllStringSubmatch(body, -1) {
			id, err := url.PathUnescape(m[1])
			require.NoError(t, err)
			ids = append(ids, id)
		}
		return ids
	}
	t.Run("filters", func(t *testing.T) {
		future := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04")
		past := time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04")
		all := newServer(t, st, inspect.Options{Registry: reg})
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"status=done", []string{doneID}},
			{"status=parked", []string{parkedID}},
			{"program=fanout", []string{fanoutID}},
			{"wait=activity", []string{flakyID}},
			{"wait=sleep", []string{fanoutID}},
			{"q=ask%2F", []string{slashID}},
			{"q=script", []string{hostileID}},
			{"program=ask&status=waiting", []string{waitingID, hostileID, slashID}},
			{"version=2", nil},
			{"program=done&version=1", []string{doneID}},
			{"from=" + future, nil},
			{"program=done&from=" + past + "&to=" + future, []string{doneID}},
		} {
			r := get(all, "/tasks?"+c.query)
			require.Equal(t, http.StatusOK, r.code, c.query)
			require.Equal(t, c.want, rows(r.body), c.query)
		}
		r := get(all, "/tasks?program=ask&status=waiting")
		require.Contains(t, r.body, `waiting <b>3</b>`, "counts follow the other filters")
		require.Contains(t, r.body, `cancelled <b>1</b>`)
	})

	t.Run("bad filters", func(t *testing.T) {
		for q, says := range map[string]string{
			"status=sleeping":               "&#34;sleeping&#34; is not a task status",
			"version=two":                   "is not a version number",
			"from=yesterday":                "is not a time",
			"order=random":                  "is not an order",
			"order=updated&after=x&at=noon": "is not a time (RFC 3339)",
		} {
			r := get(h, "/tasks?"+q)
			require.Equal(t, http.StatusBadRequest, r.code, q)
			require.Contains(t, r.body, says, q)
		}
	})

	t.Run("paging", func(t *testing.T) {
		pageAll := func(first string) []string {
			var seen []string
			next := first
			for pages := 0; next != ""; pages++ {
				require.Less(t, pages, 10)
				r := get(h, next)
				require.Equal(t, http.StatusOK, r.code, r.body)
				page := rows(r.body)
				require.LessOrEqual(t, len(page), 4)
				seen = append(seen, page...)
				next = ""
				if m := regexp.MustCompile(`class="next" href="([^"]+)"`).FindStringSubmatch(r.body); m != nil {
					next = strings.ReplaceAll(m[1], "&amp;", "&")
				}
			}
			return seen
		}
		byID := pageAll("/tasks")
		require.Len(t, byID, 11)
		require.IsIncreasing(t, byID)
		// Most recently updated first: every task once, the same set.
		byUpdated := pageAll("/tasks?order=updated")
		require.ElementsMatch(t, byID, byUpdated)
		all, err := st.List(context.Background(), store.Filter{Order: store.ByUpdated})
		require.NoError(t, err)
		var want []string
		for _, s := range all {
			want = append(want, s.ID)
		}
		require.Equal(t, want, byUpdated, "the store's order")
		// A filtered listing pages with its filter.
		require.ElementsMatch(t, []string{waitingID, hostileID, slashID, cancelledID, runningID}, pageAll("/tasks?program=ask&order=updated"))
		require.ElementsMatch(t, []string{waitingID, hostileID, slashID, cancelledID, runningID}, pageAll("/tasks?program=ask"))
	})

	t.Run("waiting task", func(t *testing.T) {
		r := get(h, taskURL(waitingID))
		require.Equal(t, http.StatusOK, r.code, r.body)
		require.Contains(t, r.body, `id="status">waiting`)
		require.Contains(t, r.body, "ask v1")
		require.Contains(t, r.body, `<code class="value" id="input">&#34;ann&#34;</code>`)
		require.Contains(t, r.body, "a message of type test.Raise")
		require.Contains(t, r.body, "effect.NowOp")
		// The unregistered message is shown raw, escaped.
		require.Contains(t, r.body, "does not register the type other.Unregistered")
		require.Contains(t, r.body, "&lt;b&gt;raw&lt;/b&gt;")
		// The typed form for the message the task waits for.
		require.Contains(t, r.body, `<legend>Send a <code>test.Raise</code></legend>`)
		require.Contains(t, r.body, `type="number" step="any" name="f.Amount"`)
		require.Contains(t, r.body, `type="checkbox" name="f.Urgent"`)
		require.Contains(t, r.body, `action="/tasks/ask-1/cancel"`)
		require.Contains(t, r.body, "Raw CBOR")
	})

	t.Run("hostile task", func(t *testing.T) {
		r := get(h, taskURL(hostileID))
		require.Equal(t, http.StatusOK, r.code, r.body)
		require.NotContains(t, r.body, hostile)
		require.NotContains(t, r.body, "<script>alert")
		require.Contains(t, r.body, "&lt;script&gt;alert(")
		require.Contains(t, r.body, `{&#34;By&#34;:&#34;\u003cscript\u003e`, "the message in the mailbox, escaped")
		require.Contains(t, r.body, `action="/tasks/ask-%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E/send"`)
		r = get(h, taskURL(failedID))
		require.NotContains(t, r.body, hostile)
		require.Contains(t, r.body, "bad input &lt;script&gt;")
	})

	t.Run("slash in ID", func(t *testing.T) {
		r := get(h, taskURL(slashID))
		require.Equal(t, http.StatusOK, r.code, r.body)
		require.Contains(t, r.body, `&#34;bob&#34;`)
	})

	t.Run("fibers and timeline", func(t *testing.T) {
		r := get(h, taskURL(fanoutID))
		require.Equal(t, http.StatusOK, r.code, r.body)
		require.Contains(t, r.body, `<svg class="timeline"`)
		require.Contains(t, r.body, ">fiber 1</text>")
		require.Contains(t, r.body, ">fiber 2</text>")
		require.Equal(t, 2, strings.Count(r.body, `<rect class="op activity"`), "two activities, one bar each")
		require.Contains(t, r.body, "inspect_test.Fetch")
		require.Contains(t, r.body, `{&#34;URL&#34;: &#34;a&#34;}`)
		require.Contains(t, r.body, "a timer firing at")
		require.Contains(t, r.body, `class="op timer"`, "the pending timer drawn as a wait")
	})

	t.Run("activity retry", func(t *testing.T) {
		r := get(h, taskURL(flakyID))
		require.Equal(t, http.StatusOK, r.code, r.body)
		require.Contains(t, r.body, "the activity inspect_test.Flaky to complete")
		require.Regexp(t, `inspect_test.Flaky, attempt 1 failed; attempt 2 at \S+ \(in \d`, r.body)
		require.Contains(t, r.body, `class="op backoff"`)
	})

	t.Run("finished tasks", func(t *testing.T) {
		r := get(h, taskURL(doneID))
		require.Contains(t, r.body, `id="result">&#34;got page!&#34;`)
		require.NotContains(t, r.body, "Cancel this task", "no actions on a finished task")
		r = get(h, taskURL(failedID))
		require.Contains(t, r.body, `id="status">failed`)
		require.Contains(t, r.body, `id="task-error"`)
		r = get(h, taskURL(cancelledID))
		require.Contains(t, r.body, `id="status">cancelled`)
		r = get(h, taskURL(parkedID))
		require.Contains(t, r.body, `id="status">parked`)
		require.Contains(t, r.body, "ghost")
		r = get(h, taskURL(runningID))
		require.Contains(t, r.body, `id="status">running`)
	})

	t.Run("long journal", func(t *testing.T) {
		r := get(h, taskURL(longID))
		require.Equal(t, http.StatusOK, r.code)
		require.Contains(t, r.body, "450 entries, 401–450 shown")
		require.Contains(t, r.body, `id="e450"`)
		require.NotContains(t, r.body, `id="e400"`)
		require.Contains(t, r.body, `href="?from=200">Earlier`)
		r = get(h, taskURL(longID)+"?from=0")
		require.Contains(t, r.body, "450 entries, 1–200 shown")
		require.Contains(t, r.body, `href="?from=200">Later`)
		require.Equal(t, 200, strings.Count(r.body, `<circle class="op instant"`))
		require.Contains(t, r.body, "long gaps shortened")
		require.Contains(t, r.body, `class="axis" href="?axis=linear&amp;from=0">linear`)
		r = get(h, taskURL(longID)+"?from=0&axis=linear")
		require.Contains(t, r.body, "Time axis: linear")
		require.Contains(t, r.body, `href="?axis=linear&amp;from=200">Later`, "paging keeps the axis")
		r = get(h, taskURL(longID)+"?from=x")
		require.Equal(t, http.StatusBadRequest, r.code)
	})

	t.Run("replay debugger", func(t *testing.T) {
		dbg := newServer(t, st, inspect.Options{Registry: debugRegistry()})
		r := get(dbg, taskURL(waitingID))
		require.Contains(t, r.body, `href="/tasks/ask-1/replay"`, "the task page links to the debugger")

		// The recorded version fits, and then waits for a message.
		r = get(dbg, taskURL(waitingID)+"/replay")
		require.Equal(t, http.StatusOK, r.code, r.body)
		require.Contains(t, r.body, "Version 1 fits this journal to its end (1 entries)")
		require.Contains(t, r.body, "effect.ReceiveOp")
		require.Contains(t, r.body, `<option value="2">v2</option>`)
		require.Contains(t, r.body, `<option value="1" selected>v1 (recorded)</option>`)
		require.Contains(t, r.body, "✓ the program issued this op.")
		require.Regexp(t, `id="issued">effect.NowOp`, r.body)

		// v2 diverges at entry 1: recorded and issued side by side.
		r = get(dbg, taskURL(waitingID)+"/replay?version=2")
		require.Equal(t, http.StatusOK, r.code, r.body)
		require.Contains(t, r.body, "Version 2 diverges from this journal at")
		require.Contains(t, r.body, `href="/tasks/ask-1/replay?step=1&amp;version=2">entry 1</a>`)
		require.Contains(t, r.body, "✗ the program diverges here.")
		require.Regexp(t, `<td><code>effect.NowOp \{\}</code></td><td><code class="err">effect.ReceiveOp`, r.body)

		// v3 fits.
		r = get(dbg, taskURL(waitingID)+"/replay?version=3")
		require.Contains(t, r.body, "Version 3 fits")

		// A finished task: the program's outcome.
		r = get(dbg, taskURL(doneID)+"/replay")
		require.Contains(t, r.body, "The program then finishes: <code>result &#34;got page!&#34;</code>")

		// A failed task, which has no journal: its program fails again.
		r = get(dbg, taskURL(failedID)+"/replay")
		require.Equal(t, http.StatusOK, r.code, r.body)
		require.Contains(t, r.body, "The program then fails: <code class=\"err\">error: bad input &lt;script&gt;")

		// Stepping through a long journal.
		r = get(dbg, taskURL(longID)+"/replay?step=200")
		require.Equal(t, http.StatusOK, r.code, r.body)
		require.Contains(t, r.body, `<h2>Entry 200 <small>of 450`)
		require.Contains(t, r.body, `rel="prev" id="prev" href="/tasks/long-1/replay?step=199"`)
		require.Contains(t, r.body, `rel="next" id="next" href="/tasks/long-1/replay?step=201"`)
		require.Contains(t, r.body, `<tr class="current"><td><a href="/tasks/long-1/replay?step=200">200</a>`)
		require.Equal(t, 17, strings.Count(r.body, `<td><a href="/tasks/long-1/replay?step=`), "a window of the journal around the step")
		r = get(dbg, taskURL(longID)+"/replay?step=99999")
		require.Contains(t, r.body, `<h2>Entry 450 <small>of 450`, "past the end: the last entry")

		// Hostile input is escaped; bad parameters and unknown programs
		// and versions are a message.
		r = get(dbg, taskURL(hostileID)+"/replay")
		require.Equal(t, http.StatusOK, r.code)
		require.NotContains(t, r.body, hostile)
		for target, c := range map[string]struct {
			code int
			says string
		}{
			taskURL(waitingID) + "/replay?version=9": {200, "does not register ask version 9"},
			taskURL(parkedID) + "/replay":            {200, "does not register ghost version 1"},
			taskURL(waitingID) + "/replay?step=x":    {400, "is not a journal position"},
			taskURL(waitingID) + "/replay?version=x": {400, "is not a version number"},
			taskURL("nope") + "/replay":              {404, "no such task"},
		} {
			r := get(dbg, target)
			require.Equal(t, c.code, r.code, target)
			require.Contains(t, r.body, c.says, target)
		}

		// Nothing was written: the task is as it was.
		rec, msgs, err := st.Load(context.Background(), waitingID)
		require.NoError(t, err)
		require.Len(t, rec.Journal, 1)
		require.Equal(t, task.Waiting, rec.Status)
		require.Len(t, msgs, 1)
	})

	t.Run("versions and routes", func(t *testing.T) {
		for _, target := range []string{"/versions", "/routes", "/versions?partial=live"} {
			r := get(h, target)
			require.Equal(t, http.StatusOK, r.code, target)
		}
		require.Contains(t, get(h, "/versions").body, "<h2>ask</h2>")
	})

	t.Run("live part", func(t *testing.T) {
		r := get(h, taskURL(waitingID)+"?partial=live")
		require.Equal(t, http.StatusOK, r.code)
		require.NotContains(t, r.body, "<html")
		require.NotContains(t, r.body, "<form")
		require.Contains(t, r.body, `id="status">waiting`)
		r = get(h, "/tasks?partial=live&status=done")
		require.NotContains(t, r.body, "<html")
		require.Contains(t, r.body, doneID)
	})

	t.Run("not found", func(t *testing.T) {
		r := get(h, taskURL("nope"+hostile))
		require.Equal(t, http.StatusNotFound, r.code)
		require.Contains(t, r.body, "no such task")
		require.NotContains(t, r.body, hostile)
		r = get(h, "/nothing/here")
		require.Equal(t, http.StatusNotFound, r.code)
		require.Contains(t, r.body, "There is no page at /nothing/here")
	})

	t.Run("assets", func(t *testing.T) {
		for _, a := range []string{"/assets/style.css", "/assets/app.js"} {
			r := get(h, a)
			require.Equal(t, http.StatusOK, r.code, a)
			require.NotEmpty(t, r.body)
		}
		r := get(h, "/tasks")
		require.Contains(t, r.h.Get("Content-Security-Policy"), "default-src 'self'")
		require.Equal(t, "nosniff", r.h.Get("X-Content-Type-Options"))
	})

	t.Run("send and cancel", func(t *testing.T) {
		testActions(t, st, h)
	})
}

func testActions(t *testing.T, st store.Store, h http.Handler) {
	ctx := context.Background()
	tok := csrf(t, h, slashID)
	mailbox := func(id string) []store.Message {
		ms, err := st.Messages(ctx, id, 0)
		require.NoError(t, err)
		return ms
	}
	before := len(mailbox(slashID))

	// The typed form.
	r := do(h, http.MethodPost, taskURL(slashID)+"/send", url.Values{"csrf": {tok}, "mode": {"typed"}, "type": {"test.Raise"},
		"f.By": {"ops"}, "f.Amount": {"12"}, "f.Urgent": {"on"}})
	require.Equal(t, http.StatusSeeOther, r.code, r.body)
	require.True(t, strings.HasPrefix(r.h.Get("Location"), taskURL(slashID)+"?notice="), r.h.Get("Location"))
	ms := mailbox(slashID)
	require.Len(t, ms, before+1)
	var got Raise
	require.NoError(t, task.Unmarshal(ms[len(ms)-1].Env.Data, &got))
	require.Equal(t, Raise{By: "ops", Amount: 12, Urgent: true}, got)
	notice, _ := url.Parse(r.h.Get("Location"))
	page := get(h, notice.RequestURI())
	require.Contains(t, page.body, "Sent test.Raise")

	// JSON.
	r = do(h, http.MethodPost, taskURL(slashID)+"/send", url.Values{"csrf": {tok}, "mode": {"json"}, "type": {"test.Raise"},
		"json": {`{"By":"json"}`}})
	require.Equal(t, http.StatusSeeOther, r.code, r.body)
	require.Len(t, mailbox(slashID), before+2)

	// Refused, nothing sent: an unknown field, a number that is not one,
	// an unregistered type, no form token, a form from another site, a GET.
	for _, c := range []struct {
		form   url.Values
		header []string
		code   int
		says   string
	}{
		{url.Values{"csrf": {tok}, "mode": {"json"}, "type": {"test.Raise"}, "json": {`{"By":"x","Bogus":1}`}}, nil, 400, "unknown field &#34;Bogus&#34;"},
		{url.Values{"csrf": {tok}, "mode": {"typed"}, "type": {"test.Raise"}, "f.Amount": {"many"}}, nil, 400, "is not a number"},
		{url.Values{"csrf": {tok}, "mode": {"json"}, "type": {"no.Such"}, "json": {`{}`}}, nil, 400, "is not registered"},
		{url.Values{"mode": {"json"}, "type": {"test.Raise"}, "json": {`{}`}}, nil, 403, "token is missing or stale"},
		{url.Values{"csrf": {"00"}, "mode": {"json"}, "type": {"test.Raise"}, "json": {`{}`}}, nil, 403, "token is missing or stale"},
		{url.Values{"csrf": {tok}, "mode": {"json"}, "type": {"test.Raise"}, "json": {`{}`}}, []string{"Sec-Fetch-Site", "cross-site"}, 403, ""},
	} {
		r := do(h, http.MethodPost, taskURL(slashID)+"/send", c.form, c.header...)
		require.Equal(t, c.code, r.code, "%v: %s", c.form, r.body)
		require.Contains(t, r.body, c.says)
	}
	require.Len(t, mailbox(slashID), before+2)
	for _, path := range []string{"/send", "/cancel"} {
		r := get(h, taskURL(slashID)+path)
		require.Equal(t, http.StatusMethodNotAllowed, r.code, path)
	}

	// Sending to a finished task is refused with a message.
	r = do(h, http.MethodPost, taskURL(doneID)+"/send", url.Values{"csrf": {tok}, "mode": {"json"}, "type": {"test.Raise"}, "json": {`{}`}})
	require.Equal(t, http.StatusConflict, r.code)
	require.Contains(t, r.body, "Not sent")
	r = do(h, http.MethodPost, taskURL("nope")+"/cancel", url.Values{"csrf": {tok}})
	require.Equal(t, http.StatusNotFound, r.code, r.body)

	r = do(h, http.MethodPost, taskURL(slashID)+"/cancel", url.Values{"csrf": {tok}})
	require.Equal(t, http.StatusSeeOther, r.code, r.body)
}

// TestToken: with a token, every request must carry it.
func TestToken(t *testing.T) {
	st, _ := sqliteStore(t)
	h := newServer(t, st, inspect.Options{Token: "s3cret"})
	anywhere := func(target string, header ...string) response {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.Host = "inspector.example.com:7700"
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return response{w.Code, w.Body.String(), w.Result().Header}
	}
	for _, target := range []string{"/tasks", "/tasks/x", "/assets/style.css", "/"} {
		r := anywhere(target)
		require.Equal(t, http.StatusUnauthorized, r.code, target)
		require.Contains(t, r.body, "needs its token", target)
		require.Equal(t, http.StatusUnauthorized, anywhere(target, "Authorization", "Bearer wrong").code)
	}
	require.Equal(t, http.StatusUnauthorized, do(h, http.MethodPost, "/tasks/x/cancel", url.Values{}).code)
	require.Equal(t, http.StatusOK, anywhere("/tasks", "Authorization", "Bearer s3cret").code)
	r := anywhere("/tasks?status=done&token=s3cret")
	require.Equal(t, http.StatusSeeOther, r.code)
	require.Equal(t, "/tasks?status=done", r.h.Get("Location"), "the token leaves the address bar")
	cookie := r.h.Get("Set-Cookie")
	require.Contains(t, cookie, "HttpOnly")
	require.Contains(t, cookie, "SameSite=Strict")
	require.Equal(t, http.StatusOK, anywhere("/tasks", "Cookie", strings.Split(cookie, ";")[0]).code)
	require.Equal(t, http.StatusUnauthorized, anywhere("/tasks?token=wrong").code)
}

// TestLoopbackHost: without a token, only requests addressed to a loopback
// name are answered (a DNS-rebinding page gets nothing).
func TestLoopbackHost(t *testing.T) {
	st, _ := sqliteStore(t)
	h := newServer(t, st, inspect.Options{})
	for host, code := range map[string]int{
		"127.0.0.1:7700": 200, "localhost:7700": 200, "[::1]:7700": 200, "localhost": 200,
		"evil.example.com:7700": 403, "10.0.0.1:7700": 403, "": 403,
	} {
		r := httptest.NewRequest(http.MethodGet, "/tasks", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, code, w.Code, host)
	}
}

func TestCheckAddr(t *testing.T) {
	for _, c := range []struct {
		addr, token string
		ok          bool
	}{
		{inspect.DefaultAddr, "", true},
		{"localhost:8080", "", true},
		{"[::1]:8080", "", true},
		{"127.0.0.2:8080", "", true},
		{"0.0.0.0:7700", "", false},
		{":7700", "", false},
		{"192.168.1.5:7700", "", false},
		{"example.com:7700", "", false},
		{"0.0.0.0:7700", "t", true},
		{"no-port", "t", false},
	} {
		err := inspect.CheckAddr(c.addr, c.token)
		require.Equal(t, c.ok, err == nil, "%s %q: %v", c.addr, c.token, err)
		if c.token == "" && !c.ok {
			require.ErrorIs(t, err, inspect.ErrNeedToken)
		}
	}
}

// TestCorruptRow: a journal row that does not decode still gives a page,
// which says which row and why.
func TestCorruptRow(t *testing.T) {
	st, path := sqliteStore(t)
	reg := registry()
	populate(t, st, reg, 3)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`UPDATE journal SET entry = x'a1ff' WHERE task_id = ? AND seq = 1`, waitingID)
	require.NoError(t, err)
	h := newServer(t, st, inspect.Options{Registry: reg})
	r := get(h, taskURL(waitingID))
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.Contains(t, r.body, "Part of this task could not be read")
	require.Contains(t, r.body, "journal seq 1 is corrupt")
	require.Contains(t, r.body, `id="status">waiting`, "what the list knows is shown")
	require.Contains(t, r.body, "The row journal seq 1 as stored")
	require.Contains(t, r.body, `<pre id="raw-row">0000  a1ff`, "the row's bytes")
	rp := get(h, taskURL(waitingID)+"/replay")
	require.Equal(t, http.StatusOK, rp.code, rp.body)
	require.Contains(t, rp.body, "cannot be replayed")
	require.Contains(t, rp.body, "journal seq 1 is corrupt")
	require.Contains(t, r.body, "ask v1")
	// The other tasks are unaffected.
	require.Equal(t, http.StatusOK, get(h, taskURL(slashID)).code)
	require.Equal(t, http.StatusOK, get(h, "/tasks").code)
}

// TestStoreDown: a store that cannot answer gives a page that says so.
func TestStoreDown(t *testing.T) {
	st, _ := sqliteStore(t)
	h := newServer(t, st, inspect.Options{})
	require.NoError(t, st.Close())
	for _, target := range []string{"/tasks", taskURL("x")} {
		r := get(h, target)
		require.Equal(t, http.StatusServiceUnavailable, r.code, target)
		require.Contains(t, r.body, "the store could not be read")
		require.NotContains(t, r.body, "goroutine")
	}
}

func TestDecodeMessageJSON(t *testing.T) {
	reg := registry()
	v, err := inspect.DecodeMessageJSON(reg, "test.Raise", `{"By":"a","Amount":3}`)
	require.NoError(t, err)
	require.Equal(t, Raise{By: "a", Amount: 3}, v)
	_, err = inspect.DecodeMessageJSON(reg, "test.Raise", `{"by":"a"}`)
	require.ErrorIs(t, err, inspect.ErrBadMessage, "field names match exactly")
	_, err = inspect.DecodeMessageJSON(reg, "test.Raise", `{"By":"a"} 1`)
	require.ErrorIs(t, err, inspect.ErrBadMessage)
	_, err = inspect.DecodeMessageJSON(reg, "nope", `{}`)
	require.ErrorIs(t, err, task.ErrUnregisteredType)
	v, err = inspect.DecodeMessageJSON(reg, "string", `"hi"`)
	require.NoError(t, err)
	require.Equal(t, "hi", v)
}

func FuzzDecodeMessageJSON(f *testing.F) {
	reg := registry()
	for _, s := range []string{`{"By":"a","Amount":3,"Urgent":true}`, `{}`, `"x"`, `1e400`, `{"By":`, `[1,2]`, `null`} {
		f.Add("test.Raise", s)
		f.Add("string", s)
		f.Add("effect.Exit", s)
	}
	f.Fuzz(func(t *testing.T, name, body string) {
		v, err := inspect.DecodeMessageJSON(reg, name, body)
		if err != nil {
			if !errors.Is(err, inspect.ErrBadMessage) && !errors.Is(err, task.ErrUnregisteredType) {
				t.Fatalf("%q %q: unexpected error %v", name, body, err)
			}
			return
		}
		if _, err := reg.EncodeMessage(v); err != nil {
			t.Fatalf("%q %q: decoded %#v does not encode: %v", name, body, v, err)
		}
	})
}

// TestJournal10000: a journal of 10,000 entries is shown a page at a
// time, with links through it, and a timeline of that page only.
func TestJournal10000(t *testing.T) {
	st, _ := sqliteStore(t)
	reg := registry()
	runTo(t, st, reg, long, 10_000, "huge", task.Waiting)

	h := newServer(t, st, inspect.Options{Registry: reg, JournalPage: 500})
	r := get(h, taskURL("huge"))
	require.Equal(t, http.StatusOK, r.code)
	require.Contains(t, r.body, "10000 entries, 9501–10000 shown")
	require.Equal(t, 500, strings.Count(r.body, `<tr class="op-instant"`))
	require.Equal(t, 500, strings.Count(r.body, `<circle class="op instant"`))
	require.Contains(t, r.body, `href="?from=9000">Earlier`)
	r = get(h, taskURL("huge")+"?from=5000")
	require.Contains(t, r.body, "10000 entries, 5001–5500 shown")
	require.Contains(t, r.body, `id="e5001"`)
	require.Contains(t, r.body, `href="?from=5500">Later`)
	require.Contains(t, r.body, `href="?from=4500">Earlier`)
	r = get(h, taskURL("huge")+"?from=123456")
	require.Contains(t, r.body, "9501–10000 shown", "past the end: the last page")
}
