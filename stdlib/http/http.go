// Package http calls HTTP services from programs, as activities: a request
// is performed live with the op's retry policy and timeout, its response
// (status, headers, body) is recorded in the task's journal, and a replay
// or a resumed task gets the recording back without calling out.
//
//	resp := http.Get(e, "https://api.example.com/rates")
//	quote := http.PostJSON[Quote](e, "https://api.example.com/quote", Order{Item: "pear"})
//
// In tree style, a Request is an op: effect.Perform(http.Request{...}),
// and FetchJSON decodes its response.
//
// # Configuration
//
// A Request carries only what identifies it: method, URL, headers and
// body, which are journaled. What a worker adds to every request, and must
// not be journaled (credentials, the transport, proxies), is a Client,
// installed as the handler of Request ops:
//
//	client := &http.Client{Header: nethttp.Header{"Authorization": {"Bearer " + token}}}
//	d, err := interp.NewDurable(st, interp.WithHandlers(client.Handler()))
//
// Without one, requests go through net/http's DefaultClient.
//
// # Retries, timeouts, idempotency
//
// An attempt fails on a transport error, on a timeout (Request.Timeout,
// default 30s), and on a response whose status is 429, 502, 503 or 504;
// the op is then retried by its policy (Request.Retry, default
// DefaultRetry: three attempts). Any other status is a result: Do returns
// it, and the JSON helpers fail on one that is not 2xx with a
// *StatusError. Every attempt sends the op's idempotency key (the same for
// all attempts of the op, across crashes) in the Idempotency-Key header,
// so that a service can recognise a retried POST.
//
// # Limits
//
// A response body over the limit (Request.MaxBody, else Client.MaxBody,
// else DefaultMaxBody) fails the op, without retries, with a
// *BodyTooLargeError, rather than bloating the journal; a request body
// over the same limit is refused too (it is journaled with the op: keep
// it small). Stream large downloads in an activity of your
// own that stores them elsewhere and returns a reference.
//
// # Tests
//
// A Cassette is an http.RoundTripper that answers from a table of recorded
// interactions (VCR style): it records once and then replays, replays only,
// and fails on a request it has no answer for. Put it in a Client:
//
//	cas, err := http.LoadCassette("testdata/rates.json", http.ModeRecordOnce)
//	client := &http.Client{HTTP: &nethttp.Client{Transport: cas}}
package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"slices"
	"strings"
	"time"

	"github.com/amberrt/amber/effect"
)

// DefaultMaxBody bounds the bodies recorded when neither the request nor
// the client sets a limit: 1 MiB.
const DefaultMaxBody = 1 << 20

// DefaultTimeout bounds one attempt when the request sets no timeout.
const DefaultTimeout = 30 * time.Second

// DefaultRetry is the retry policy of a request that sets none: three
// attempts, one second apart and then two; a body over the limit, a
// malformed request and a request a replaying Cassette cannot answer are
// not retried.
var DefaultRetry = effect.RetryPolicy{
	MaximumAttempts: 3,
	InitialInterval: time.Second,
	NonRetryable:    []error{ErrBodyTooLarge, ErrBadRequest, ErrUnmatched},
}

// retryStatus lists the statuses that fail an attempt.
var retryStatus = []int{nethttp.StatusTooManyRequests, nethttp.StatusBadGateway, nethttp.StatusServiceUnavailable, nethttp.StatusGatewayTimeout}

// Request is an HTTP request, as an op: performing it yields the
// Response. Its Method, URL, Header and Body are its identity in the
// journal (a replay checks them); the other fields tune how it is
// performed and are not journaled.
type Request struct {
	effect.Returns[Response]
	// Method, URL, Header and Body are the request to send.
	Method string
	URL    string
	Header nethttp.Header `cbor:",omitempty"`
	Body   []byte         `cbor:",omitempty"`

	// MaxBody bounds the response body (and the request's): 0 means the
	// client's limit, or DefaultMaxBody.
	MaxBody int64 `cbor:"-" json:"-"`
	// Timeout bounds one attempt: 0 means DefaultTimeout.
	Timeout time.Duration `cbor:"-" json:"-"`
	// Retry is the retry policy: nil means DefaultRetry.
	Retry *effect.RetryPolicy `cbor:"-" json:"-"`
}

// RetryPolicy returns the request's retry policy, with its timeout as the
// bound of each attempt.
func (r Request) RetryPolicy() effect.RetryPolicy {
	p := DefaultRetry
	if r.Retry != nil {
		p = *r.Retry
	}
	if r.Timeout > 0 {
		p.StartToClose = r.Timeout
	} else if p.StartToClose == 0 {
		p.StartToClose = DefaultTimeout
	}
	return p
}

// Run performs the request with net/http's DefaultClient: the activity
// used when no Client handles Request ops.
func (r Request) Run(ctx context.Context) (Response, error) {
	return (*Client)(nil).do(ctx, r)
}

// String renders the request as "METHOD URL".
func (r Request) String() string { return r.method() + " " + r.URL }

func (r Request) method() string {
	if r.Method == "" {
		return nethttp.MethodGet
	}
	return r.Method
}

// Response is a recorded HTTP response.
type Response struct {
	// Status, Header and Body are the response received.
	Status int
	Header nethttp.Header `cbor:",omitempty"`
	Body   []byte         `cbor:",omitempty"`
}

// OK reports whether the status is 2xx.
func (r Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Text returns the body as a string.
func (r Response) Text() string { return string(r.Body) }

// Errors of the package. Each is matched (errors.Is) by the error types
// below that carry the details.
var (
	// ErrBodyTooLarge: a body over the limit.
	ErrBodyTooLarge = errors.New("http: body over the limit")
	// ErrBadRequest: a request that cannot be sent (a malformed URL or
	// method).
	ErrBadRequest = errors.New("http: bad request")
	// ErrStatus: a response whose status a helper did not accept.
	ErrStatus = errors.New("http: unexpected status")
	// ErrDecode: a body that is not what a JSON helper expected.
	ErrDecode = errors.New("http: cannot decode the body")
)

// BodyTooLargeError reports a body over the limit.
type BodyTooLargeError struct {
	Task    string // the task, if known
	Request string // "METHOD URL"
	What    string // "response body" or "request body"
	// Limit is the limit, in bytes.
	Limit int64
}

// Error names the task, the request and the limit.
func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("http: task %s: %s: %s over the limit of %d bytes (raise Request.MaxBody or Client.MaxBody, or fetch it in an activity of your own)", orUnknown(e.Task), e.Request, e.What, e.Limit)
}

// Is reports whether target is ErrBodyTooLarge.
func (e *BodyTooLargeError) Is(target error) bool { return target == ErrBodyTooLarge }

// StatusError reports a response with a status that was not accepted.
type StatusError struct {
	// Task is the task, if known; Request is "METHOD URL"; Status is
	// the response's status.
	Task    string
	Request string
	Status  int
	// Body is the start of the response body, for the message.
	Body string
}

// Error names the task, the request and the status.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("http: task %s: %s: status %d %s", orUnknown(e.Task), e.Request, e.Status, nethttp.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Is reports whether target is ErrStatus.
func (e *StatusError) Is(target error) bool { return target == ErrStatus }

// DecodeError reports a body that a JSON helper could not decode.
type DecodeError struct {
	// Task is the task, if known; Request is "METHOD URL".
	Task    string
	Request string
	Into    string // the Go type
	// Err is what decoding said.
	Err error
}

// Error names the task, the request and the type.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("http: task %s: %s: decoding the response body as %s: %v", orUnknown(e.Task), e.Request, e.Into, e.Err)
}

// Is reports whether target is ErrDecode.
func (e *DecodeError) Is(target error) bool { return target == ErrDecode }

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }

func orUnknown(task string) string {
	if task == "" {
		return "(none)"
	}
	return task
}

// Client performs Request ops for a worker: install its Handler in the
// interpreter. Its settings are the worker's, not the task's: they are not
// journaled. The zero Client uses net/http's DefaultClient.
type Client struct {
	// HTTP sends the requests (default net/http's DefaultClient). Put a
	// Cassette in its Transport for tests.
	HTTP *nethttp.Client
	// Header is added to every request (credentials, a User-Agent),
	// without replacing the request's own values.
	Header nethttp.Header
	// IdempotencyHeader names the header that carries the op's
	// idempotency key (default "Idempotency-Key"; "-" sends none).
	IdempotencyHeader string
	// MaxBody is the limit of requests that set none (default
	// DefaultMaxBody).
	MaxBody int64
}

// Handler returns the handler that performs Request ops with c.
func (c *Client) Handler() effect.Handler {
	return effect.Handle(func(ctx context.Context, r Request) (Response, error) { return c.do(ctx, r) })
}

func (c *Client) do(ctx context.Context, r Request) (Response, error) {
	var hc *nethttp.Client
	var extra nethttp.Header
	idem, limit := "Idempotency-Key", int64(DefaultMaxBody)
	if c != nil {
		hc, extra = c.HTTP, c.Header
		if c.IdempotencyHeader != "" {
			idem = c.IdempotencyHeader
		}
		if c.MaxBody > 0 {
			limit = c.MaxBody
		}
	}
	if hc == nil {
		hc = nethttp.DefaultClient
	}
	if r.MaxBody > 0 {
		limit = r.MaxBody
	}
	taskID, _ := effect.TaskID(ctx)
	if int64(len(r.Body)) > limit {
		return Response{}, &BodyTooLargeError{Task: taskID, Request: r.String(), What: "request body", Limit: limit}
	}
	req, err := nethttp.NewRequestWithContext(ctx, r.method(), r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Response{}, fmt.Errorf("http: task %s: %s: %w: %w", orUnknown(taskID), r, ErrBadRequest, err)
	}
	req.Header = r.Header.Clone()
	if req.Header == nil {
		req.Header = nethttp.Header{}
	}
	for k, vs := range extra {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if key := effect.IdempotencyKey(ctx); key != "" && idem != "-" && req.Header.Get(idem) == "" {
		req.Header.Set(idem, key)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("http: task %s: %s: %w", orUnknown(taskID), r, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return Response{}, fmt.Errorf("http: task %s: %s: reading the body: %w", orUnknown(taskID), r, err)
	}
	if int64(len(body)) > limit {
		return Response{}, &BodyTooLargeError{Task: taskID, Request: r.String(), What: "response body", Limit: limit}
	}
	if slices.Contains(retryStatus, resp.StatusCode) {
		return Response{}, &StatusError{Task: taskID, Request: r.String(), Status: resp.StatusCode, Body: snippet(body)}
	}
	if len(body) == 0 {
		body = nil
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// snippet is the start of a body, for an error message.
func snippet(body []byte) string {
	const n = 200
	s := strings.ToValidUTF8(string(body[:min(len(body), n)]), "?")
	if len(body) > n {
		s += "…"
	}
	return s
}

// Do performs the request inside a direct-style body and returns the
// response, whatever its status. A failed request (see the package doc)
// fails the body; use effect.Try(e, effect.Perform(req)) to handle it.
func Do(e *effect.Ctx, req Request) Response { return effect.Call(e, req) }

// Get is Do of a GET request.
func Get(e *effect.Ctx, url string) Response {
	return Do(e, Request{Method: nethttp.MethodGet, URL: url})
}

// GetJSON performs a GET request and decodes its JSON response into a T.
// A status that is not 2xx fails the body with a *StatusError; a body that
// is not a JSON T, with a *DecodeError.
func GetJSON[T any](e *effect.Ctx, url string) T {
	return effect.Await(e, FetchJSON[T](Request{Method: nethttp.MethodGet, URL: url, Header: jsonAccept()}))
}

// PostJSON posts body, encoded as JSON, and decodes the JSON response into
// a T; see GetJSON. A body that cannot be encoded fails the program.
func PostJSON[T any](e *effect.Ctx, url string, body any) T {
	data, err := json.Marshal(body)
	if err != nil {
		effect.Must(e, 0, fmt.Errorf("http: POST %s: encoding the body as JSON: %w", url, err))
	}
	h := jsonAccept()
	h.Set("Content-Type", "application/json")
	return effect.Await(e, FetchJSON[T](Request{Method: nethttp.MethodPost, URL: url, Header: h, Body: data}))
}

func jsonAccept() nethttp.Header { return nethttp.Header{"Accept": {"application/json"}} }

// FetchJSON performs req and decodes its JSON response into a T. A status
// that is not 2xx fails it with a *StatusError; a body that is not a JSON
// T, with a *DecodeError. Both name the task and the request.
func FetchJSON[T any](req Request) effect.Eff[T] {
	return effect.Then(effect.Perform(req), func(resp Response) effect.Eff[T] {
		var v T
		var fail error
		if !resp.OK() {
			fail = &StatusError{Request: req.String(), Status: resp.Status, Body: snippet(resp.Body)}
		} else if err := json.Unmarshal(resp.Body, &v); err != nil {
			fail = &DecodeError{Request: req.String(), Into: fmt.Sprintf("%T", v), Err: err}
		}
		if fail == nil {
			return effect.Pure(v)
		}
		// Only a failing program asks for its task's ID: one more op,
		// on a path that a replay takes again.
		return effect.Then(effect.Perform(effect.SelfOp{}), func(id string) effect.Eff[T] {
			switch x := fail.(type) {
			case *StatusError:
				x.Task = id
			case *DecodeError:
				x.Task = id
			}
			return effect.Fail[T](fail)
		})
	})
}
