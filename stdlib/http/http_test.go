package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/lives"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stdlib/http"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// server is a local HTTP service that counts the requests it serves and
// keeps their idempotency keys.
type server struct {
	*httptest.Server
	n    atomic.Int64
	mu   sync.Mutex
	keys []string
	// fail503 answers the first n requests to /flaky with 503.
	fail503 atomic.Int64
}

func newServer(t testing.TB) *server {
	s := &server{}
	mux := nethttp.NewServeMux()
	mux.HandleFunc("GET /hello", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("name"))
	})
	mux.HandleFunc("POST /quote", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		var in struct{ Item string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			nethttp.Error(w, err.Error(), nethttp.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"item": %q, "cents": %d}`, in.Item, 100*len(in.Item))
	})
	mux.HandleFunc("GET /rates", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprint(w, `{"EUR": 1.08, "GBP": 1.27}`)
	})
	mux.HandleFunc("GET /html", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprint(w, `<html>not json</html>`)
	})
	mux.HandleFunc("GET /big", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprint(w, strings.Repeat("x", 4096))
	})
	mux.HandleFunc("GET /flaky", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if s.fail503.Add(-1) >= 0 {
			nethttp.Error(w, "busy", nethttp.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	})
	s.Server = httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		s.n.Add(1)
		s.mu.Lock()
		s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
		s.mu.Unlock()
		w.Header()["Date"] = nil // the same response every time
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) served() int { return int(s.n.Load()) }

func (s *server) idempotencyKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

// Quote is the JSON answer of /quote.
type Quote struct {
	Item  string `json:"item"`
	Cents int    `json:"cents"`
}

func calls(base string) *effect.Program[string, string] {
	return effect.NewProgram("http.calls", 1, func(name string) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			hello := http.Get(e, base+"/hello?name="+name)
			q := http.PostJSON[Quote](e, base+"/quote", map[string]string{"Item": "pear"})
			rates := http.GetJSON[map[string]float64](e, base+"/rates")
			return fmt.Sprintf("%d %s; %+v; %v", hello.Status, hello.Text(), q, rates)
		})
	})
}

func TestLives(t *testing.T) {
	s := newServer(t)
	outs := lives.Check(t, lives.Case[string, string]{
		Program: calls(s.URL), Input: "ann",
		Performed: s.served,
	})
	require.Equal(t, 3*3, s.served(), "three requests in each of three lives, none in the replays")
	for _, o := range outs {
		require.NoError(t, o.Err, o.Life)
		require.Equal(t, "200 hello ann; {Item:pear Cents:400}; map[EUR:1.08 GBP:1.27]", o.Result, o.Life)
	}
	// Each request of a task has its own idempotency key (the keys of
	// tasks in different interpreters may be equal: they are named alike).
	keys := s.idempotencyKeys()
	for life := range 3 {
		k := keys[3*life : 3*life+3]
		require.NotEmpty(t, k[0])
		require.True(t, k[0] != k[1] && k[1] != k[2] && k[0] != k[2], "keys %v", k)
	}
}

// run runs p on a fresh mock with the given handlers.
func run[A any](t *testing.T, p effect.Eff[A], hs ...effect.Handler) (A, error) {
	t.Helper()
	return interp.Run(context.Background(), interp.NewMock(interp.WithHandlers(hs...)), p)
}

func TestRetryKeepsTheKey(t *testing.T) {
	s := newServer(t)
	s.fail503.Store(2)
	got, err := run(t, effect.Do(func(e *effect.Ctx) string { return http.Get(e, s.URL+"/flaky").Text() }))
	require.NoError(t, err)
	require.Equal(t, "ok", got)
	keys := s.idempotencyKeys()
	require.Len(t, keys, 3)
	require.Equal(t, keys[0], keys[1])
	require.Equal(t, keys[0], keys[2])

	s.fail503.Store(5)
	_, err = run(t, effect.Do(func(e *effect.Ctx) string { return http.Get(e, s.URL+"/flaky").Text() }))
	var se *http.StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 503, se.Status)
	require.ErrorContains(t, err, "GET "+s.URL+"/flaky: status 503 Service Unavailable: busy")
}

// Bad input fails the op with an error that names the task and the
// request; the task catches it and goes on.
func TestBadInput(t *testing.T) {
	s := newServer(t)
	cases := []struct {
		name string
		p    effect.Eff[string]
		is   error
		msg  string
		reqs int
	}{
		{"body over the limit", effect.Map(effect.Perform(http.Request{URL: s.URL + "/big", MaxBody: 1000}), http.Response.Text),
			http.ErrBodyTooLarge, "GET " + s.URL + "/big: response body over the limit of 1000 bytes", 1},
		{"request body over the limit", effect.Map(effect.Perform(http.Request{Method: "POST", URL: s.URL + "/quote", Body: make([]byte, 2000), MaxBody: 1000}), http.Response.Text),
			http.ErrBodyTooLarge, "POST " + s.URL + "/quote: request body over the limit of 1000 bytes", 0},
		{"not JSON", effect.Map(http.FetchJSON[Quote](http.Request{URL: s.URL + "/html"}), func(q Quote) string { return q.Item }),
			http.ErrDecode, "GET " + s.URL + "/html: decoding the response body as http_test.Quote: invalid character '<'", 1},
		{"not found", effect.Map(http.FetchJSON[Quote](http.Request{URL: s.URL + "/nowhere"}), func(q Quote) string { return q.Item }),
			http.ErrStatus, "GET " + s.URL + "/nowhere: status 404 Not Found: 404 page not found", 1},
		{"malformed URL", effect.Map(effect.Perform(http.Request{URL: "http://[::1"}), http.Response.Text),
			http.ErrBadRequest, "GET http://[::1: http: bad request", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.served()
			mock := interp.NewMock()
			tk, err := interp.StartProgram(mock, effect.NewProgram("bad", 1, func(effect.Unit) effect.Eff[string] {
				return effect.Do(func(e *effect.Ctx) string {
					_, err := effect.Try(e, c.p)
					// The task's other work continues.
					return fmt.Sprintf("%v|%s", err, http.Get(e, s.URL+"/hello?name=bo").Text())
				})
			}), effect.Unit{}, interp.WithID("task-7"))
			require.NoError(t, err)
			v, err := tk.Wait(context.Background())
			require.NoError(t, err)
			msg, rest, _ := strings.Cut(v, "|")
			require.Equal(t, "hello bo", rest)
			require.Contains(t, msg, "http: task task-7: "+c.msg)
			require.Equal(t, c.reqs+1, s.served()-before, "requests served (no retries)")
		})
	}
}

// A journal whose recorded response does not decode is refused by the
// replay with an error, never a panic.
func TestCorruptRecording(t *testing.T) {
	s := newServer(t)
	p := effect.NewProgram("http.one", 1, func(effect.Unit) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string { return http.Get(e, s.URL+"/hello?name=cy").Text() })
	})
	mock := interp.NewMock()
	tk, err := interp.StartProgram(mock, p, effect.Unit{}, interp.WithID("corrupt-1"))
	require.NoError(t, err)
	_, err = tk.Wait(context.Background())
	require.NoError(t, err)
	j, err := tk.Journal()
	require.NoError(t, err)
	require.Len(t, j, 1)
	for name, bad := range map[string][]byte{
		"a string":  mustMarshal(t, "not a response"),
		"truncated": j[0].Result[:len(j[0].Result)/2],
		"garbage":   {0xff, 0x00, 0x13},
	} {
		j2 := append(task.Journal(nil), j...)
		j2[0].Result = bad
		before := s.served()
		r, err := interp.Replay(context.Background(), p, effect.Unit{}, j2)
		if err == nil {
			err = r.Err
		}
		require.Error(t, err, name)
		require.ErrorContains(t, err, "task replay: journal entry 1 (http.Request): cannot decode result", name)
		require.Equal(t, before, s.served(), "the replay of a corrupt journal does not call out")
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := task.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestClientHeaders(t *testing.T) {
	var got nethttp.Header
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		got = r.Header.Clone()
	}))
	defer srv.Close()
	c := &http.Client{Header: nethttp.Header{"Authorization": {"Bearer s3cret"}}, IdempotencyHeader: "X-Key"}
	mock := interp.NewMock(interp.WithHandlers(c.Handler()))
	tk, err := interp.Start(mock, effect.Perform(http.Request{URL: srv.URL, Header: nethttp.Header{"X-Trace": {"1"}}}))
	require.NoError(t, err)
	_, err = tk.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "Bearer s3cret", got.Get("Authorization"))
	require.Equal(t, "1", got.Get("X-Trace"))
	require.NotEmpty(t, got.Get("X-Key"))
	require.Empty(t, got.Get("Idempotency-Key"))
	// The credentials are the worker's: not in the journal.
	j, err := tk.Journal()
	require.NoError(t, err)
	for _, en := range j {
		require.NotContains(t, en.String(), "s3cret")
	}
}

func TestCassette(t *testing.T) {
	s := newServer(t)
	path := filepath.Join(t.TempDir(), "calls.json")
	prog := calls(s.URL)

	// Record once: the file does not exist, so the requests go out.
	cas, err := http.LoadCassette(path, http.ModeRecordOnce)
	require.NoError(t, err)
	got, err := interp.Run(context.Background(), interp.NewMock(interp.WithHandlers(cas.Handler())), prog.Body("dee"))
	require.NoError(t, err)
	require.Equal(t, 3, s.served())
	require.NoError(t, cas.Save())

	// Record once again: the file exists, so it replays; so does replay
	// only. Neither calls out.
	for _, m := range []http.Mode{http.ModeRecordOnce, http.ModeReplayOnly} {
		cas, err := http.LoadCassette(path, m)
		require.NoError(t, err)
		again, err := interp.Run(context.Background(), interp.NewMock(interp.WithHandlers(cas.Handler())), prog.Body("dee"))
		require.NoError(t, err, m)
		require.Equal(t, got, again, m)
		require.Empty(t, cas.Unused(), m)
		require.Equal(t, 3, s.served(), m)
	}

	// An unmatched request fails, at once (no retries).
	cas, err = http.LoadCassette(path, http.ModeReplayOnly)
	require.NoError(t, err)
	_, err = interp.Run(context.Background(), interp.NewMock(interp.WithHandlers(cas.Handler())), prog.Body("eve"))
	require.ErrorIs(t, err, http.ErrUnmatched)
	require.ErrorContains(t, err, "cassette (replay-only) has no recorded answer for GET "+s.URL+"/hello?name=eve")

	// Record refreshes.
	cas, err = http.LoadCassette(path, http.ModeRecord)
	require.NoError(t, err)
	_, err = interp.Run(context.Background(), interp.NewMock(interp.WithHandlers(cas.Handler())), prog.Body("eve"))
	require.NoError(t, err)
	require.Equal(t, 6, s.served())
	require.Len(t, cas.Interactions(), 3)

	_, err = http.LoadCassette(filepath.Join(t.TempDir(), "missing.json"), http.ModeReplayOnly)
	require.Error(t, err)
}

func TestCassetteTable(t *testing.T) {
	cas := http.NewCassette(http.ModeReplayOnly,
		http.Interaction{Method: "GET", URL: "https://api.example/a", Status: 200, Body: "first"},
		http.Interaction{Method: "GET", URL: "https://api.example/a", Status: 200, Body: "second"},
		http.Interaction{Method: "POST", URL: "https://api.example/b", RequestBody: "\xff", Status: 201, Body: "AA==", Base64: true},
	)
	p := effect.Do(func(e *effect.Ctx) string {
		a1 := http.Get(e, "https://api.example/a").Text()
		a2 := http.Get(e, "https://api.example/a").Text()
		return a1 + " " + a2
	})
	got, err := run(t, p, cas.Handler())
	require.NoError(t, err)
	require.Equal(t, "first second", got)
	require.Len(t, cas.Unused(), 1)
}

func TestParseCassette(t *testing.T) {
	for _, bad := range []string{``, `{}`, `[{"method": "GET"}]`, `[{"method":"GET","url":"u","status":200,"extra":1}]`,
		`[{"method":"GET","url":"u","status":200,"body":"!","base64":true}]`, `[] []`} {
		_, err := http.ParseCassette([]byte(bad), http.ModeReplayOnly)
		require.Error(t, err, bad)
	}
}

func FuzzParseCassette(f *testing.F) {
	f.Add([]byte(`[{"method":"GET","url":"https://x/","status":200,"header":{"A":["b"]},"body":"hi"}]`))
	f.Add([]byte(`[{"method":"POST","url":"u","request_body":"AA==","status":201,"base64":true}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cas, err := http.ParseCassette(data, http.ModeReplayOnly)
		if err != nil {
			return
		}
		for _, it := range cas.Interactions() {
			req := httptest.NewRequest(it.Method, "http://x/", strings.NewReader(""))
			req.URL, _ = req.URL.Parse(it.URL)
			if req.URL == nil {
				continue
			}
			resp, err := cas.RoundTrip(req)
			if err == nil {
				_, _ = io.ReadAll(resp.Body)
			}
		}
	})
}

// A program calls a service; the mock performs the request (here against
// a local server), and a replay of the journal returns the recording
// without calling out.
func Example() {
	var served atomic.Int64
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		served.Add(1)
		fmt.Fprint(w, `{"item": "pear", "cents": 400}`)
	}))
	defer srv.Close()

	p := effect.Do(func(e *effect.Ctx) string {
		q := http.PostJSON[Quote](e, srv.URL+"/quote", map[string]string{"Item": "pear"})
		return fmt.Sprintf("%s costs %d cents", q.Item, q.Cents)
	})
	prog := effect.NewProgram("example", 1, func(effect.Unit) effect.Eff[string] { return p })
	tk, _ := interp.StartProgram(interp.NewMock(), prog, effect.Unit{})
	got, _ := tk.Wait(context.Background())
	j, _ := tk.Journal()
	r, _ := interp.Replay(context.Background(), prog, effect.Unit{}, j)
	fmt.Println(got)
	fmt.Println(r.Result, "- requests served:", served.Load())
	// Output:
	// pear costs 400 cents
	// pear costs 400 cents - requests served: 1
}
