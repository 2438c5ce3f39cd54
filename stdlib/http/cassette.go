package http

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	nethttp "net/http"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/amberrt/amber/effect"
)

// Mode says what a Cassette does with a request.
type Mode int

const (
	// ModeReplayOnly answers from the recorded interactions and never
	// calls out; a request without a recorded answer fails with an
	// *UnmatchedError.
	ModeReplayOnly Mode = iota
	// ModeRecordOnce records when the cassette starts empty (its file
	// does not exist yet), calling the Upstream transport; a cassette
	// that has interactions replays only.
	ModeRecordOnce
	// ModeRecord calls Upstream for every request and records the
	// answers, replacing the interactions that were loaded: a refresh.
	ModeRecord
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case ModeReplayOnly:
		return "replay-only"
	case ModeRecordOnce:
		return "record-once"
	case ModeRecord:
		return "record"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Interaction is a recorded request and its answer. A request matches it
// when its method, URL and body are equal; headers are not compared (the
// idempotency key changes from task to task).
type Interaction struct {
	// Method, URL and RequestBody are the request.
	Method      string `json:"method"`
	URL         string `json:"url"`
	RequestBody string `json:"request_body,omitempty"`

	// Status, Header and Body are the answer.
	Status int            `json:"status"`
	Header nethttp.Header `json:"header,omitempty"`
	Body   string         `json:"body,omitempty"`
	// Base64 says that RequestBody and Body hold base64 (a body that is
	// not UTF-8 text).
	Base64 bool `json:"base64,omitempty"`
}

// ErrUnmatched is matched by the error of a request that a replaying
// cassette has no answer for.
var ErrUnmatched = errors.New("http: no recorded answer")

// UnmatchedError reports a request a replaying cassette has no answer for.
type UnmatchedError struct {
	// Method and URL are the request's.
	Method, URL string
	// Mode is the cassette's mode.
	Mode Mode
}

// Error names the request.
func (e *UnmatchedError) Error() string {
	return fmt.Sprintf("http: cassette (%s) has no recorded answer for %s %s", e.Mode, e.Method, e.URL)
}

// Is reports whether target is ErrUnmatched.
func (e *UnmatchedError) Is(target error) bool { return target == ErrUnmatched }

// Cassette is an http.RoundTripper that answers from recorded
// interactions, for tests (VCR style). Each interaction answers one
// request, in recorded order among the requests it matches. It is safe
// for concurrent use.
type Cassette struct {
	// Upstream performs the requests a recording cassette lets through
	// (default http.DefaultTransport).
	Upstream nethttp.RoundTripper

	mu        sync.Mutex
	path      string
	mode      Mode
	recording bool
	its       []Interaction
	used      []bool
	changed   bool
}

var _ nethttp.RoundTripper = (*Cassette)(nil)

// NewCassette returns a cassette holding the interactions, in mode m.
func NewCassette(m Mode, its ...Interaction) *Cassette {
	c := &Cassette{mode: m, its: its, used: make([]bool, len(its))}
	c.recording = m == ModeRecord || m == ModeRecordOnce && len(its) == 0
	if m == ModeRecord {
		c.its, c.used = nil, nil
	}
	return c
}

// LoadCassette reads the cassette file at path (JSON, as Save writes it)
// in mode m. A file that does not exist is an empty cassette, except in
// ModeReplayOnly, where it is an error.
func LoadCassette(path string, m Mode) (*Cassette, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && m != ModeReplayOnly {
		c := NewCassette(m)
		c.path = path
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("http: cassette: %w", err)
	}
	c, err := ParseCassette(data, m)
	if err != nil {
		return nil, fmt.Errorf("http: cassette %s: %w", path, err)
	}
	c.path = path
	return c, nil
}

// ParseCassette decodes a cassette file's contents.
func ParseCassette(data []byte, m Mode) (*Cassette, error) {
	var its []Interaction
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&its); err != nil {
		return nil, fmt.Errorf("http: cassette: %w", err)
	}
	if dec.More() {
		return nil, errors.New("http: cassette: data after the list of interactions")
	}
	for i, it := range its {
		if it.Method == "" || it.URL == "" || it.Status < 100 || it.Status > 999 {
			return nil, fmt.Errorf("http: cassette: interaction %d: needs a method, a URL and a status in 100..999", i+1)
		}
		if it.Base64 {
			for _, s := range []string{it.RequestBody, it.Body} {
				if _, err := base64.StdEncoding.DecodeString(s); err != nil {
					return nil, fmt.Errorf("http: cassette: interaction %d: %w", i+1, err)
				}
			}
		}
	}
	return NewCassette(m, its...), nil
}

// Save writes the interactions to the file the cassette was loaded from,
// if it recorded any.
func (c *Cassette) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.changed || c.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(c.its, "", "  ")
	if err != nil {
		return fmt.Errorf("http: cassette: %w", err)
	}
	if err := os.WriteFile(c.path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("http: cassette: %w", err)
	}
	c.changed = false
	return nil
}

// Interactions returns the recorded interactions.
func (c *Cassette) Interactions() []Interaction {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Interaction(nil), c.its...)
}

// Unused returns the interactions no request has matched yet: a test that
// expects every recorded call to happen checks it is empty.
func (c *Cassette) Unused() []Interaction {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Interaction
	for i, it := range c.its {
		if !c.used[i] {
			out = append(out, it)
		}
	}
	return out
}

// Handler returns the handler of Request ops that answers from the
// cassette: a Client whose transport is c.
func (c *Cassette) Handler() effect.Handler {
	return (&Client{HTTP: &nethttp.Client{Transport: c}}).Handler()
}

// RoundTrip answers req from the cassette, or, when it records, from
// Upstream.
func (c *Cassette) RoundTrip(req *nethttp.Request) (*nethttp.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	url := req.URL.String()
	c.mu.Lock()
	if !c.recording {
		defer c.mu.Unlock()
		for i, it := range c.its {
			if c.used[i] || it.Method != req.Method || it.URL != url || !bytes.Equal(it.requestBody(), body) {
				continue
			}
			c.used[i] = true
			return it.response(req), nil
		}
		return nil, &UnmatchedError{Method: req.Method, URL: url, Mode: c.mode}
	}
	c.mu.Unlock()

	up := c.Upstream
	if up == nil {
		up = nethttp.DefaultTransport
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	resp, err := up.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rbody, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	it := Interaction{Method: req.Method, URL: url, Status: resp.StatusCode, Header: resp.Header.Clone()}
	it.Header.Del("Date") // changes on every call; noise in a diff
	if utf8.Valid(body) && utf8.Valid(rbody) {
		it.RequestBody, it.Body = string(body), string(rbody)
	} else {
		it.Base64 = true
		it.RequestBody, it.Body = base64.StdEncoding.EncodeToString(body), base64.StdEncoding.EncodeToString(rbody)
	}
	c.mu.Lock()
	c.its = append(c.its, it)
	c.used = append(c.used, true)
	c.changed = true
	c.mu.Unlock()
	return it.response(req), nil
}

func (it Interaction) requestBody() []byte { return it.decode(it.RequestBody) }

func (it Interaction) decode(s string) []byte {
	if it.Base64 {
		b, _ := base64.StdEncoding.DecodeString(s) // checked by ParseCassette
		return b
	}
	return []byte(s)
}

func (it Interaction) response(req *nethttp.Request) *nethttp.Response {
	body := it.decode(it.Body)
	return &nethttp.Response{
		Status:        fmt.Sprintf("%d %s", it.Status, strings.TrimSpace(nethttp.StatusText(it.Status))),
		StatusCode:    it.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        it.Header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
