package router

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
)

// Table is where policies live: MemTable, or StoreTable over a store.
type Table interface {
	// Policies returns every function's policy.
	Policies(ctx context.Context) (map[string]Policy, error)
}

// Router decides routed calls from a snapshot of its table (it is an
// interp.Routes: give it to an interpreter with interp.WithRoutes) and
// runs shadows. Its methods may be called concurrently.
type Router struct {
	table    Table
	opts     Options
	policies atomic.Pointer[map[string]*Policy]
	sem      chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex
	stats map[string]*Stats
}

var _ interp.Routes = (*Router)(nil)

// Options configure a Router. The zero value is usable.
type Options struct {
	// Sink receives the divergences (default: a MemSink, Router.Sink).
	Sink Sink
	// Shadows is how many shadows run at once (default 4); a shadow that
	// finds them all busy is dropped and counted.
	Shadows int
	// Sandbox are the options of the shadows' sandboxes: WithHandlers
	// marks reads safe to call twice, WithRegistry decodes errors.
	Sandbox []interp.MockOption
	// Timeout bounds one shadow (default 10 s).
	Timeout time.Duration
	// Catalog is where the router finds functions by name (default:
	// Default).
	Catalog *Catalog
}

// Stats counts a function's shadowed calls.
type Stats struct {
	// Shadowed counts the calls whose candidate ran; Divergent those
	// where it differed from the primary, Noise those where the primary
	// differed from itself (A/A), Dropped those not run because the pool
	// was full, Failed those whose shadow could not run.
	Shadowed, Divergent, Noise, Dropped, Failed int
}

// NewRouter returns a router over table; call Refresh (or Watch) to load
// it: until then every call runs its default version.
func NewRouter(table Table, opts Options) *Router {
	if opts.Sink == nil {
		opts.Sink = &MemSink{}
	}
	if opts.Shadows <= 0 {
		opts.Shadows = 4
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Catalog == nil {
		opts.Catalog = Default
	}
	r := &Router{table: table, opts: opts, sem: make(chan struct{}, opts.Shadows), stats: map[string]*Stats{}}
	empty := map[string]*Policy{}
	r.policies.Store(&empty)
	return r
}

// Sink returns the router's sink.
func (r *Router) Sink() Sink { return r.opts.Sink }

// Refresh loads the table's policies; the next decision follows them.
func (r *Router) Refresh(ctx context.Context) error {
	ps, err := r.table.Policies(ctx)
	if err != nil {
		return fmt.Errorf("router: loading policies: %w", err)
	}
	snap := make(map[string]*Policy, len(ps))
	for name, p := range ps {
		p.pctOrder = sortedKeys(p.Percent)
		snap[name] = &p
	}
	r.policies.Store(&snap)
	return nil
}

// Watch refreshes the router every interval until ctx ends (a change in
// the table is followed within one interval). It returns ctx's error; a
// failed refresh keeps the last snapshot and is retried.
func (r *Router) Watch(ctx context.Context, interval time.Duration, onErr func(error)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if err := r.Refresh(ctx); err != nil && onErr != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
}

// Policy returns the loaded policy of function.
func (r *Router) Policy(function string) (Policy, bool) {
	p, ok := (*r.policies.Load())[function]
	if !ok {
		return Policy{}, false
	}
	return *p, true
}

// Decide decides task's call of function (interp.Routes).
func (r *Router) Decide(taskID, function string) interp.Decision {
	p, ok := (*r.policies.Load())[function]
	if !ok {
		return interp.Decision{}
	}
	d := interp.Decision{Version: p.version(taskID, function)}
	if s := p.Shadow; s != nil && d.Version == p.Primary {
		if _, override := p.Tasks[taskID]; !override && (s.Sampling >= 1 || rand.Float64() < s.Sampling) {
			d.Shadow = s.Candidate
		}
	}
	return d
}

// Stats returns function's shadow counters.
func (r *Router) Stats(function string) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.stats[function]; s != nil {
		return *s
	}
	return Stats{}
}

func (r *Router) count(function string, f func(*Stats)) {
	r.mu.Lock()
	s := r.stats[function]
	if s == nil {
		s = &Stats{}
		r.stats[function] = s
	}
	f(s)
	r.mu.Unlock()
}

// Wait waits for the shadows in progress.
func (r *Router) Wait() { r.wg.Wait() }

// shadowCall is one shadowed call, handed over when the primary returned.
type shadowCall struct {
	task, function     string
	primary, candidate string
	input, out         any
	err                error
	rec                task.Journal
	outBytes           []byte
	// opts are the sandboxes' options: the interpreter's (its registry),
	// then the router's (Options.Sandbox), set by submit.
	opts []interp.MockOption
}

// submit runs s on the pool, or drops it. It never blocks.
func (r *Router) submit(fn AnyFunction, s *shadowCall) {
	if s.err == nil {
		// Encoded now: the program may change its output once it has it.
		b, err := task.Marshal(s.out)
		if err != nil {
			r.count(s.function, func(st *Stats) { st.Failed++ })
			return
		}
		s.outBytes = b
	}
	s.opts = append(s.opts, r.opts.Sandbox...)
	select {
	case r.sem <- struct{}{}:
	default:
		r.count(s.function, func(st *Stats) { st.Dropped++ })
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { <-r.sem }()
		defer func() {
			// A comparator or a sink that panics fails its shadow, never
			// the worker.
			if p := recover(); p != nil {
				r.count(s.function, func(st *Stats) { st.Failed++ })
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
		defer cancel()
		d, err := fn.shadow(ctx, s)
		switch {
		case err != nil:
			r.count(s.function, func(st *Stats) { st.Failed++; st.Shadowed++ })
		case d == nil:
			r.count(s.function, func(st *Stats) { st.Shadowed++ })
		case d.Noise:
			r.count(s.function, func(st *Stats) { st.Noise++; st.Shadowed++ })
		default:
			r.count(s.function, func(st *Stats) { st.Divergent++; st.Shadowed++ })
		}
		if d != nil {
			if err := r.opts.Sink.Record(ctx, *d); err != nil {
				r.count(s.function, func(st *Stats) { st.Failed++ })
			}
		}
	}()
}

// shadow runs the candidate (and, on a difference, the primary: A/A) in
// sandboxes and compares them with the primary.
func (fn *Function[I, O]) shadow(ctx context.Context, s *shadowCall) (*Divergence, error) {
	cand, ok := fn.impl(s.candidate)
	if !ok {
		return nil, fmt.Errorf("%w: %s version %q", ErrUnknownVersion, fn.name, s.candidate)
	}
	in, _ := s.input.(I)
	res, err := interp.Sandbox(ctx, cand(in), s.rec, s.opts...)
	if err != nil {
		return nil, err
	}
	primaryTrace := effects(interp.TraceOf(s.rec))
	res.Trace = effects(res.Trace)
	if fn.same(s, res) && sameTrace(primaryTrace, res.Trace) {
		return nil, nil
	}
	d := &Divergence{
		Function: fn.name, Primary: s.primary, Candidate: s.candidate, Task: s.task, At: time.Now().UTC(),
		PrimaryOutput: renderOutcome(s.outBytes, s.err), CandidateOutput: renderResult(res),
		PrimaryTrace: renderTrace(primaryTrace), CandidateTrace: renderTrace(res.Trace),
		FirstDiff: firstDiff(primaryTrace, res.Trace),
	}
	// A/A: the primary against its own recording. If it does not
	// reproduce itself, the call is not deterministic: noise.
	if prim, ok := fn.impl(s.primary); ok {
		aa, err := interp.Sandbox(ctx, prim(in), s.rec, s.opts...)
		if err == nil && (!fn.same(s, aa) || !sameTrace(primaryTrace, effects(aa.Trace))) {
			d.Noise = true
		}
	}
	return d, nil
}

// same reports whether the sandbox's outcome equals the primary's.
func (fn *Function[I, O]) same(s *shadowCall, res *interp.SandboxResult) bool {
	if !res.Done {
		return false
	}
	if s.err != nil || res.Err != nil {
		return s.err != nil && res.Err != nil && s.err.Error() == res.Err.Error()
	}
	fn.mu.RLock()
	cmp := fn.compare
	fn.mu.RUnlock()
	if cmp != nil {
		a, _ := s.out.(O)
		b, _ := res.Result.(O)
		return cmp(a, b)
	}
	b, err := task.Marshal(res.Result)
	return err == nil && bytes.Equal(b, s.outBytes)
}

// logKind is the kind of a Log op: logs are not effects on the world, and
// a candidate that only logs more does not diverge.
var logKind = task.OpKind(effect.LogOp{})

// effects returns tr without its Log ops.
func effects(tr []interp.TraceOp) []interp.TraceOp {
	out := tr[:0:0]
	for _, op := range tr {
		if op.Kind != logKind {
			out = append(out, op)
		}
	}
	return out
}

func sameTrace(a, b []interp.TraceOp) bool { return firstDiff(a, b) < 0 }

// firstDiff returns the index of the first op where a and b differ, -1 if
// none.
func firstDiff(a, b []interp.TraceOp) int {
	for i := range min(len(a), len(b)) {
		if a[i].Kind != b[i].Kind || a[i].Fingerprint != b[i].Fingerprint {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func renderTrace(tr []interp.TraceOp) []string {
	out := make([]string, len(tr))
	for i, op := range tr {
		out[i] = op.String()
		if op.Source != 0 {
			out[i] += " (" + op.Source.String() + ")"
		}
	}
	return out
}

func renderOutcome(out []byte, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return task.Render(out)
}

func renderResult(res *interp.SandboxResult) string {
	if !res.Done {
		return "did not finish: " + fmt.Sprint(res.Err)
	}
	if res.Err != nil {
		return "error: " + res.Err.Error()
	}
	b, err := task.Marshal(res.Result)
	if err != nil {
		return fmt.Sprintf("%v (cannot encode: %v)", res.Result, err)
	}
	return task.Render(b)
}
