package inspect_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/inspect"
	"github.com/amberrt/amber/store/memstore"
	"github.com/amberrt/amber/task"
)

// FuzzRequest serves any path and query a browser could send (the
// pages parse their query: filters, cursors, journal positions, versions,
// steps) and checks that every answer is a page, never a server error or
// a panic, and that nothing of the request comes back unescaped.
func FuzzRequest(f *testing.F) {
	st := memstore.New()
	defer st.Close()
	reg := debugRegistry()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in, err := task.Marshal("ann")
	if err != nil {
		f.Fatal(err)
	}
	if err := st.Create(context.Background(), &task.Record{ID: "ask-1", Program: "ask", Version: 1, Input: in, Status: task.Waiting,
		Wait: &task.Wait{Kind: task.WaitReceive, Types: []string{"test.Raise"}}, Created: now, Updated: now}); err != nil {
		f.Fatal(err)
	}
	srv, err := inspect.New(inspect.Options{Store: st, Registry: reg})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"/tasks?status=waiting&program=ask&version=1&wait=receive&q=ask&from=2026-01-01T00:00&to=2027-01-01T00:00",
		"/tasks?order=updated&after=ask-1&at=2026-01-01T00:00:00Z", "/tasks?after=%00&order=id", "/tasks?version=-1",
		"/tasks/ask-1?from=0&axis=linear", "/tasks/ask-1/replay?version=2&step=1", "/tasks/ask-1/replay?step=999999999999999999999",
		"/tasks/%3Cscript%3E/replay", "/versions", "/routes", "/routes/%2F", "/tasks?partial=live", "/assets/style.css",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\t#") {
			return
		}
		r, err := http.NewRequest(http.MethodGet, "http://"+inspect.DefaultAddr+target, nil)
		if err != nil {
			return
		}
		r.Host = inspect.DefaultAddr
		r.RequestURI = target
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s: %d\n%s", target, w.Code, w.Body)
		}
		if body := w.Body.String(); strings.Contains(body, "<script>") {
			t.Fatalf("%s: unescaped script in the page", target)
		}
	})
}
