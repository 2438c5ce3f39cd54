package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
)

// Policy says which version of one function runs a task's call.
type Policy struct {
	// Primary is the version that runs a call nothing else claims.
	Primary string `json:"primary"`
	// Percent sends that percentage of tasks (0-100 each, 100 at most in
	// all) to another version, sticky: a task's bucket is a hash of its ID
	// and the function's name, so a task never flips between versions.
	Percent map[string]int `json:"percent,omitempty"`
	// Shadow, if set, runs a candidate version beside the primary.
	Shadow *Shadow `json:"shadow,omitempty"`
	// Tasks overrides the version for single tasks (by task ID).
	Tasks map[string]string `json:"tasks,omitempty"`
	// Force accepts versions this build does not have: calls routed to
	// them fail with ErrUnknownVersion ("unroutable" in Unroutable).
	Force bool `json:"force,omitempty"`

	pctOrder []string // Percent's versions in order, set by the Router
}

// Shadow runs Candidate beside the primary on a Sampling fraction of the
// calls (0 < Sampling <= 1).
type Shadow struct {
	// Candidate is the version run in the sandbox.
	Candidate string `json:"candidate"`
	// Sampling is the fraction of the primary's calls shadowed.
	Sampling float64 `json:"sampling"`
}

// ErrBadPolicy is matched by the errors of Validate.
var ErrBadPolicy = errors.New("router: bad policy")

// Validate checks p against fn's versions (nil fn: the shape only).
func (p Policy) Validate(fn AnyFunction) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadPolicy, fmt.Sprintf(format, args...))
	}
	known := func(what, v string) error {
		if v == "" {
			return bad("%s: empty version", what)
		}
		if fn != nil && !p.Force && !fn.Has(v) {
			return fmt.Errorf("%w: %s: %w: %s has no version %q in this build (it has %v; --force to route to it anyway)",
				ErrBadPolicy, what, ErrUnknownVersion, fn.Name(), v, fn.Versions())
		}
		return nil
	}
	if err := known("primary", p.Primary); err != nil {
		return err
	}
	sum := 0
	for _, v := range sortedKeys(p.Percent) {
		pct := p.Percent[v]
		if pct < 0 || pct > 100 {
			return bad("percent %s=%d is outside 0-100", v, pct)
		}
		if err := known("percent", v); err != nil {
			return err
		}
		sum += pct
	}
	if sum > 100 {
		return bad("percentages add up to %d, more than 100", sum)
	}
	if s := p.Shadow; s != nil {
		if err := known("shadow candidate", s.Candidate); err != nil {
			return err
		}
		if !(s.Sampling > 0 && s.Sampling <= 1) {
			return bad("shadow sampling %v is outside (0, 1]", s.Sampling)
		}
	}
	for _, id := range sortedKeys(p.Tasks) {
		if id == "" {
			return bad("a task override with an empty task ID")
		}
		if err := known("task "+id, p.Tasks[id]); err != nil {
			return err
		}
	}
	return nil
}

// Unroutable lists the versions p routes to that fn does not have.
func (p Policy) Unroutable(fn AnyFunction) []string {
	var out []string
	add := func(v string) {
		if v != "" && !fn.Has(v) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	add(p.Primary)
	for _, v := range sortedKeys(p.Percent) {
		add(v)
	}
	if p.Shadow != nil {
		add(p.Shadow.Candidate)
	}
	for _, id := range sortedKeys(p.Tasks) {
		add(p.Tasks[id])
	}
	return out
}

// Bucket is the sticky bucket (0-99) of a task's calls of function.
func Bucket(taskID, function string) int {
	h := fnv.New32a()
	h.Write([]byte(taskID))
	h.Write([]byte{0})
	h.Write([]byte(function))
	return int(h.Sum32() % 100)
}

// version decides the version of task's call of function under p.
func (p *Policy) version(taskID, function string) string {
	if v, ok := p.Tasks[taskID]; ok {
		return v
	}
	if len(p.Percent) > 0 {
		b := Bucket(taskID, function)
		acc := 0
		for _, v := range p.pctOrder {
			acc += p.Percent[v]
			if b < acc {
				return v
			}
		}
	}
	return p.Primary
}

// Encode returns p as JSON (what a store keeps).
func (p Policy) Encode() ([]byte, error) { return json.Marshal(p) }

// DecodePolicy decodes a policy that Encode made, and validates its shape.
func DecodePolicy(b []byte) (Policy, error) {
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return Policy{}, fmt.Errorf("%w: %v", ErrBadPolicy, err)
	}
	if err := p.Validate(nil); err != nil {
		return Policy{}, err
	}
	return p, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.SortedFunc(maps.Keys(m), compareVersions)
}
