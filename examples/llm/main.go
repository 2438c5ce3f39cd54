// Command llm is a durable agent loop: a program that asks a language
// model (here a fake one, served on the loopback address by this same
// command) what to do, calls the tool the model asks for, and goes on
// until the model answers. Every model reply and tool result is an HTTP
// response recorded in the task's journal (stdlib/http), so:
//
//   - when the worker dies in the middle of the conversation, a new
//     worker resumes the task from its journal: the answers it had are
//     not asked for again, and the request in flight at the crash is sent
//     again with the same Idempotency-Key;
//
//   - a replay of the finished task (interp.ReplayRecord, or
//     `amber task replay ID` in a binary built with this registry)
//     reproduces the whole conversation without calling the API.
//
//     go run ./examples/llm
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	amberhttp "github.com/amberrt/amber/stdlib/http"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// Goal is the agent's input. The API's address is part of it, not a
// global: a program reads only its input and its ops' results.
type Goal struct {
	// API is the model API's base URL.
	API string
	// Question is what the agent is asked.
	Question string
	// MaxTurns bounds the conversation.
	MaxTurns int
}

// Message is one line of the conversation.
type Message struct {
	// Role is who speaks: system, user, assistant or tool.
	Role string `json:"role"`
	// Content is what they say.
	Content string `json:"content"`
}

// Chat is the request to the model.
type Chat struct {
	// Messages is the conversation so far.
	Messages []Message `json:"messages"`
}

// Reply is the model's answer: a final answer, or a tool to call.
type Reply struct {
	// Answer is the final answer, if the model gives one.
	Answer string `json:"answer,omitempty"`
	// Tool and Arg name a tool to call and its argument.
	Tool string `json:"tool,omitempty"`
	Arg  string `json:"arg,omitempty"`
}

// Weather is the tool's result.
type Weather struct {
	// City, Celsius and Rain describe the weather.
	City    string `json:"city"`
	Celsius int    `json:"celsius"`
	Rain    bool   `json:"rain"`
}

// Transcript is the agent's result.
type Transcript struct {
	// Messages is the whole conversation.
	Messages []Message
	// Turns counts the model's answers.
	Turns int
}

// ErrNoAnswer is the failure of an agent that ran out of turns.
var ErrNoAnswer = errors.New("llm: no answer within the turns allowed")

var agent = effect.NewProgram("llm.agent", 1, func(g Goal) effect.Eff[Transcript] {
	return effect.Do(func(e *effect.Ctx) Transcript {
		msgs := []Message{
			{Role: "system", Content: "You answer questions about going out. Call weather(city) when you need it."},
			{Role: "user", Content: g.Question},
		}
		for turn := 1; turn <= g.MaxTurns; turn++ {
			r := amberhttp.PostJSON[Reply](e, g.API+"/v1/chat", Chat{Messages: msgs})
			if r.Answer != "" {
				e.Log(slog.LevelInfo, "model answered", "turn", turn)
				msgs = append(msgs, Message{Role: "assistant", Content: r.Answer})
				return Transcript{Messages: msgs, Turns: turn}
			}
			e.Log(slog.LevelInfo, "model called a tool", "turn", turn, "tool", r.Tool, "arg", r.Arg)
			w := amberhttp.GetJSON[Weather](e, g.API+"/v1/weather?city="+url.QueryEscape(r.Arg))
			msgs = append(msgs,
				Message{Role: "assistant", Content: fmt.Sprintf("%s(%s)", r.Tool, r.Arg)},
				Message{Role: "tool", Content: fmt.Sprintf("%s: %d°C, rain: %v", w.City, w.Celsius, w.Rain)})
		}
		return effect.Must(e, Transcript{}, ErrNoAnswer)
	})
})

// Registry is what this command's workers know.
func Registry() *task.Registry {
	r := task.NewRegistry()
	if err := task.Register(r, agent); err != nil {
		panic(err)
	}
	if err := task.RegisterError(r, "llm.ErrNoAnswer", ErrNoAnswer); err != nil {
		panic(err)
	}
	return r
}

// model is the fake language model service. It answers a request once
// per idempotency key (a retried request gets the first answer again),
// and holds the first request it sees for the final answer until the
// client goes away: the moment this command's first worker dies.
type model struct {
	mu       sync.Mutex
	requests int               // requests received
	answered map[string][]byte // by idempotency key
	held     bool
	holding  chan struct{} // closed when the request is held
}

func newModel() *model {
	return &model{answered: map[string][]byte{}, holding: make(chan struct{})}
}

func (m *model) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.requests++
	key := r.Header.Get("Idempotency-Key")
	if prev, ok := m.answered[key]; ok && key != "" {
		m.mu.Unlock()
		_, _ = w.Write(prev)
		return
	}
	m.mu.Unlock()
	var body []byte
	switch r.URL.Path {
	case "/v1/weather":
		body, _ = json.Marshal(Weather{City: r.URL.Query().Get("city"), Celsius: 12, Rain: true})
	case "/v1/chat":
		var c Chat
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil || len(c.Messages) == 0 {
			http.Error(w, "bad chat", http.StatusBadRequest)
			return
		}
		last := c.Messages[len(c.Messages)-1]
		if last.Role != "tool" {
			body, _ = json.Marshal(Reply{Tool: "weather", Arg: "Lyon"})
			break
		}
		m.mu.Lock()
		hold := !m.held
		m.held = true
		m.mu.Unlock()
		if hold {
			close(m.holding)
			<-r.Context().Done() // the worker died with this request in flight
			return
		}
		body, _ = json.Marshal(Reply{Answer: "Take a coat and an umbrella: " + last.Content + "."})
	default:
		http.NotFound(w, r)
		return
	}
	m.mu.Lock()
	m.answered[key] = body
	m.mu.Unlock()
	_, _ = w.Write(body)
}

func (m *model) counts() (requests, answered int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests, len(m.answered)
}

func main() {
	dir, err := os.MkdirTemp("", "amber-llm")
	if err != nil {
		fmt.Fprintln(os.Stderr, "llm:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), filepath.Join(dir, "amber.db"), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "llm:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, db string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	m := newModel()
	srv := httptest.NewServer(m)
	defer srv.Close()

	st, err := sqlite.Open(db, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	reg := Registry()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// A short lease and activity timeout, so that the second worker takes
	// the task over soon after the first one dies.
	opts := interp.WithDurableOptions(interp.DurableOptions{Poll: 20 * time.Millisecond, Lease: time.Second, ActivityTimeout: time.Second})

	// The first worker starts the agent and dies while the model is
	// answering.
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), opts)
	if err != nil {
		return err
	}
	goal := Goal{API: srv.URL, Question: "Do I need a coat in Lyon today?", MaxTurns: 4}
	if _, err := interp.StartProgram(d, agent, goal, interp.WithID("agent-1")); err != nil {
		return err
	}
	select {
	case <-m.holding:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := d.Close(); err != nil {
		return err
	}
	reqs, _ := m.counts()
	fmt.Fprintf(out, "crash: the worker died during the model's second turn, after %d requests\n", reqs)

	// A new worker resumes the task from its journal.
	d, err = interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), opts)
	if err != nil {
		return err
	}
	defer d.Close()
	h, err := interp.Attach(d, agent, "agent-1")
	if err != nil {
		return err
	}
	tr, err := h.Wait(ctx)
	if err != nil {
		return err
	}
	for _, msg := range tr.Messages[1:] {
		fmt.Fprintf(out, "%-9s %s\n", msg.Role+":", msg.Content)
	}
	reqs, answered := m.counts()
	fmt.Fprintf(out, "turns: %d; requests to the API: %d, answered: %d (the request cut by the crash was sent again with its idempotency key)\n", tr.Turns, reqs, answered)

	// A replay reproduces the conversation from the journal alone.
	rec, _, err := st.Load(ctx, "agent-1")
	if err != nil {
		return err
	}
	r, err := interp.ReplayRecord(ctx, rec, interp.WithRegistry(reg))
	if err != nil {
		return err
	}
	again, _ := r.Result.(Transcript)
	after, _ := m.counts()
	same := len(again.Messages) == len(tr.Messages) && again.Messages[len(again.Messages)-1] == tr.Messages[len(tr.Messages)-1]
	fmt.Fprintf(out, "replay: %d journal entries, same conversation: %v, requests to the API during the replay: %d\n", len(r.Journal), same, after-reqs)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1") {
		return fmt.Errorf("the fake API is not on the loopback address: %s", srv.URL)
	}
	return nil
}
