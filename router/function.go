package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
)

// ErrUnknownVersion is the failure of a call routed to a version of its
// function that this build has not registered, and of a policy naming one.
var ErrUnknownVersion = errors.New("router: unknown version")

// ErrUnknownFunction is returned for a function this build has not
// defined.
var ErrUnknownFunction = errors.New("router: unknown function")

// Function is a versioned function from I to O: a handle that programs
// call (Call, Run) and versions register with (Register).
type Function[I, O any] struct {
	name string
	mu   sync.RWMutex
	// vs is what a call reads, without a lock: replaced whole by
	// Register (under mu), which is rare.
	vs      atomic.Pointer[versionSet[I, O]]
	compare func(a, b O) bool
}

// versionSet is a function's registered versions.
type versionSet[I, O any] struct {
	impls map[string]func(I) effect.Eff[O]
	def   string
}

// AnyFunction is a Function whose types are not known statically: what
// a Catalog holds.
type AnyFunction interface {
	// Name is the function's name.
	Name() string
	// Versions lists the registered versions, sorted (numbers in numeric
	// order first).
	Versions() []string
	// Has reports whether version is registered.
	Has(version string) bool
	// Default is the version a call runs without a route.
	Default() string
	// InputType and OutputType are I and O.
	InputType() reflect.Type
	OutputType() reflect.Type
	shadow(ctx context.Context, s *shadowCall) (*Divergence, error)
}

// Catalog is a set of functions by name: what the CLI validates routes
// against. Define adds to Default.
type Catalog struct {
	mu sync.RWMutex
	fs map[string]AnyFunction
}

// Default is the catalog Define adds to.
var Default = &Catalog{}

// Lookup returns the function named name.
func (c *Catalog) Lookup(name string) (AnyFunction, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	f, ok := c.fs[name]
	return f, ok
}

// Names lists the functions, sorted.
func (c *Catalog) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Sorted(maps.Keys(c.fs))
}

// Add adds f. Adding a second function of the same name fails.
func (c *Catalog) Add(f AnyFunction) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, dup := c.fs[f.Name()]; dup && old != f {
		return fmt.Errorf("router: function %q is defined twice (%v -> %v and %v -> %v)", f.Name(),
			old.InputType(), old.OutputType(), f.InputType(), f.OutputType())
	}
	if c.fs == nil {
		c.fs = map[string]AnyFunction{}
	}
	c.fs[f.Name()] = f
	return nil
}

// Define returns the function named name, added to Default. Defining a
// name twice with other types panics (a program-construction error, like
// registering an HTTP pattern twice); with the same types it returns the
// function already defined.
func Define[I, O any](name string) *Function[I, O] {
	if f, ok := Default.Lookup(name); ok {
		if same, ok := f.(*Function[I, O]); ok {
			return same
		}
	}
	f := New[I, O](name)
	if err := Default.Add(f); err != nil {
		panic(err)
	}
	return f
}

// New returns a function named name that is in no catalog (Define adds to
// Default).
func New[I, O any](name string) *Function[I, O] {
	fn := &Function[I, O]{name: name}
	fn.vs.Store(&versionSet[I, O]{impls: map[string]func(I) effect.Eff[O]{}})
	return fn
}

// Register registers impl as version of fn. A call runs fn's first
// registered version (its default) until a route says otherwise:
// registering a new version changes no call until it is routed to.
// Registering a version twice, or an empty one, panics.
func Register[I, O any](fn *Function[I, O], version string, impl func(I) effect.Eff[O]) {
	if version == "" || impl == nil {
		panic(fmt.Sprintf("router: Register(%s): empty version or nil implementation", fn.name))
	}
	fn.mu.Lock()
	defer fn.mu.Unlock()
	old := fn.vs.Load()
	if _, dup := old.impls[version]; dup {
		panic(fmt.Sprintf("router: %s version %s is registered twice", fn.name, version))
	}
	next := &versionSet[I, O]{impls: maps.Clone(old.impls), def: old.def}
	next.impls[version] = impl
	if next.def == "" {
		next.def = version
	}
	fn.vs.Store(next)
}

// Compare sets the comparator of fn's outputs in shadow runs: equal
// reports whether a candidate's output b is as good as the primary's a
// (ignore the fields that may differ there). Without one, outputs are
// equal when their encodings are.
func (fn *Function[I, O]) Compare(equal func(a, b O) bool) {
	fn.mu.Lock()
	fn.compare = equal
	fn.mu.Unlock()
}

// Name returns fn's name.
func (fn *Function[I, O]) Name() string { return fn.name }

// InputType returns I.
func (fn *Function[I, O]) InputType() reflect.Type { return reflect.TypeFor[I]() }

// OutputType returns O.
func (fn *Function[I, O]) OutputType() reflect.Type { return reflect.TypeFor[O]() }

// Versions lists fn's registered versions, sorted.
func (fn *Function[I, O]) Versions() []string {
	set := fn.vs.Load()
	vs := make([]string, 0, len(set.impls))
	for v := range set.impls {
		vs = append(vs, v)
	}
	slices.SortFunc(vs, compareVersions)
	return vs
}

// compareVersions orders named versions before numbers, numbers
// numerically.
func compareVersions(a, b string) int {
	na, ea := strconv.Atoi(a)
	nb, eb := strconv.Atoi(b)
	switch {
	case ea == nil && eb == nil:
		return cmp.Compare(na, nb)
	case ea == nil:
		return 1
	case eb == nil:
		return -1
	}
	return strings.Compare(a, b)
}

// Has reports whether version is registered.
func (fn *Function[I, O]) Has(version string) bool {
	_, ok := fn.impl(version)
	return ok
}

func (fn *Function[I, O]) impl(version string) (func(I) effect.Eff[O], bool) {
	f, ok := fn.vs.Load().impls[version]
	return f, ok
}

// Default returns the version a call runs without a route: the first
// registered.
func (fn *Function[I, O]) Default() string { return fn.vs.Load().def }

// Run is the program that calls fn on in: it routes the call (one
// journaled op) and runs the chosen version inline.
func Run[I, O any](fn *Function[I, O], in I) effect.Eff[O] {
	route := effect.Perform[interp.Route](interp.NewRouteOp(fn.name, fn.Default()))
	return effect.Then(route, func(r interp.Route) effect.Eff[O] {
		impl, ok := fn.impl(r.Version)
		if !ok {
			return effect.Fail[O](fmt.Errorf("%w: %s version %q is not registered in this build (it has %v)",
				ErrUnknownVersion, fn.name, r.Version, fn.Versions()))
		}
		if rest, ok := r.Swapped(); ok {
			return fn.swapped(r, impl, in, rest)
		}
		if _, ok := r.Shadow(); ok {
			return fn.shadowed(r, impl, in)
		}
		return impl(in)
	})
}

// Call calls fn on in from a direct-style program; a failure of the call
// unwinds the body like any awaited program's.
func Call[I, O any](e *effect.Ctx, fn *Function[I, O], in I) O {
	return effect.Await(e, Run(fn, in))
}

// outcome is a call's result or failure, as a value.
type outcome[O any] struct {
	v   O
	err error
}

func attempt[O any](p effect.Eff[O]) effect.Eff[outcome[O]] {
	return effect.Catch(effect.Map(p, func(v O) outcome[O] { return outcome[O]{v: v} }),
		func(err error) effect.Eff[outcome[O]] { return effect.Pure(outcome[O]{err: err}) })
}

func (o outcome[O]) eff() effect.Eff[O] {
	if o.err != nil {
		return effect.Fail[O](o.err)
	}
	return effect.Pure(o.v)
}

// shadowed runs the primary and then hands the candidate's run to the
// router that decided the call.
func (fn *Function[I, O]) shadowed(r interp.Route, impl func(I) effect.Eff[O], in I) effect.Eff[O] {
	return effect.Then(attempt(impl(in)), func(o outcome[O]) effect.Eff[O] {
		rec := r.Recording()
		cand, _ := r.Shadow()
		if rt, ok := r.Routes().(*Router); ok {
			rt.submit(fn, &shadowCall{
				task: r.Task(), function: fn.name, primary: r.Version, candidate: cand,
				input: in, out: o.v, err: o.err, rec: rec, opts: r.SandboxOptions(),
			})
		}
		return o.eff()
	})
}

// swapped runs a replay's swapped version in a sandbox answered from the
// rest of the journal.
func (fn *Function[I, O]) swapped(r interp.Route, impl func(I) effect.Eff[O], in I, rest task.Journal) effect.Eff[O] {
	res, err := interp.Sandbox(context.Background(), impl(in), rest, r.SandboxOptions()...)
	if err != nil {
		return effect.Fail[O](err)
	}
	r.ReportSwap(fn.name, res)
	if res.Err != nil {
		return effect.Fail[O](res.Err)
	}
	v, _ := res.Result.(O)
	return effect.Pure(v)
}
