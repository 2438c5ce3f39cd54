package router

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Divergence is one shadowed call whose candidate differed from the
// primary.
type Divergence struct {
	// Function, Primary and Candidate name the call's function and the
	// two versions; Task is the task that made the call.
	Function  string    `json:"function"`
	Primary   string    `json:"primary"`
	Candidate string    `json:"candidate"`
	Task      string    `json:"task"`
	At        time.Time `json:"at"`
	// PrimaryOutput and CandidateOutput render both outcomes.
	PrimaryOutput   string `json:"primary_output"`
	CandidateOutput string `json:"candidate_output"`
	// PrimaryTrace and CandidateTrace render the ops of both sides, in
	// order; FirstDiff is the index of the first op that differs (-1: the
	// traces are equal, the outputs differ).
	PrimaryTrace   []string `json:"primary_trace"`
	CandidateTrace []string `json:"candidate_trace"`
	FirstDiff      int      `json:"first_diff"`
	// Noise reports that the primary, run again against its own
	// recording, did not reproduce itself (A/A): the call is not
	// deterministic and the difference may not be the candidate's.
	Noise bool `json:"noise"`
}

// Sink receives divergences: MemSink, or StoreSink.
type Sink interface {
	// Record keeps d; it is called from the shadow pool, concurrently.
	Record(ctx context.Context, d Divergence) error
}

// MemSink keeps divergences in memory.
type MemSink struct {
	mu sync.Mutex
	ds []Divergence
}

// Record keeps d.
func (m *MemSink) Record(_ context.Context, d Divergence) error {
	m.mu.Lock()
	m.ds = append(m.ds, d)
	m.mu.Unlock()
	return nil
}

// Divergences returns the divergences of function kept so far, oldest
// first ("" for all).
func (m *MemSink) Divergences(function string) []Divergence {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(m.ds), func(d Divergence) bool {
		return function != "" && d.Function != function
	})
}

// MemTable is a Table in memory: for tests and single-process programs.
type MemTable struct {
	mu sync.Mutex
	ps map[string]Policy
}

// Policies returns the policies (Table).
func (t *MemTable) Policies(context.Context) (map[string]Policy, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]Policy, len(t.ps))
	for k, v := range t.ps {
		out[k] = v
	}
	return out, nil
}

// Set sets function's policy after validating it against the function
// (nil: the shape only).
func (t *MemTable) Set(fn AnyFunction, function string, p Policy) error {
	if err := p.Validate(fn); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ps == nil {
		t.ps = map[string]Policy{}
	}
	t.ps[function] = p
	return nil
}
