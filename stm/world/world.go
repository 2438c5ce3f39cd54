package world

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/fxamacker/cbor/v2"

	"github.com/amberrt/amber/internal/codec"
	"github.com/amberrt/amber/stm"
)

// World is a set of named stm vars whose values carry versions: it can be
// snapshotted, restored, refreshed from a store, and observed commit by
// commit. A durable interpreter keeps the shared state of its tasks in a
// World.
type World struct {
	mu      sync.Mutex
	vars    map[string]*entry
	pending map[string]Value // values of names not declared yet
	hook    atomic.Pointer[func(*Commit) error]
	synced  atomic.Uint64 // the store clock of the cut the World shows
}

// entry is a declared var with what the World needs to handle it without
// knowing its type.
type entry struct {
	v   stm.AnyVar
	typ reflect.Type
	// get reads the value and its version in tx.
	get func(tx *stm.Tx) (any, uint64)
	// decode decodes b into the var's type and returns what installs it at
	// a version, in a transaction, if that version is newer.
	decode func(b []byte) (install func(tx *stm.Tx, version uint64), err error)
}

// Commit describes what a committing transaction does to the vars of one
// World. It is passed to the World's commit hook.
type Commit struct {
	// Context is the context given to stm.AtomicallyContext or
	// stm.AttemptContext, or context.Background().
	Context context.Context
	// Synced is the store clock of the cut the World showed when the
	// commit was prepared (World.Synced).
	Synced uint64
	// Reads holds the World's vars the transaction read and did not
	// write, in name order, with the version of the value read.
	Reads []Read
	// Writes holds the new values of the World's vars the transaction
	// writes, in name order.
	Writes []Write

	landed bool
	clock  uint64
	since  []Value
}

// Landed tells the World that the store accepted the commit, and what the
// store held then: clock is the store clock at or after the commit's, and
// since every value written after Synced up to clock (a cut, such as
// store.WorldSince(Synced) returns; this commit's own values in it are
// ignored). When nothing but this commit landed after Synced (clock is
// Synced+1 and since holds no other value), the commit is published as
// usual; otherwise the World installs since and the commit's writes at
// once. A hook that never calls Landed runs the World unclocked, as one
// process does: each accepted commit is published as is.
func (c *Commit) Landed(clock uint64, since []Value) {
	c.landed, c.clock, c.since = true, clock, since
}

// others returns the values of since that are not this commit's own.
func (c *Commit) others() []Value {
	own := make(map[string]uint64, len(c.Writes))
	for _, x := range c.Writes {
		own[x.Name] = x.Prev + 1
	}
	var out []Value
	for _, v := range c.since {
		if ver, ok := own[v.Name]; !ok || v.Version != ver {
			out = append(out, v)
		}
	}
	return out
}

// Read is a var a committing transaction read, at the version it read.
type Read struct {
	Name    string
	Version uint64
}

// Write is the new value of a var. The value is published with version
// Prev+1.
type Write struct {
	Name  string
	Value []byte // Core Deterministic CBOR of the value
	Prev  uint64 // the version of the value it replaces (0: the initial value)
}

// Value is a var's value at a version, as a store holds it.
type Value struct {
	Name    string
	Value   []byte // CBOR of the value
	Version uint64
}

// ErrTypeMismatch is returned by NamedE when a name is already declared
// with another type, or when a restored or refreshed value does not decode
// into its var's type.
var ErrTypeMismatch = errors.New("world: var type mismatch")

// ErrStale is matched (errors.Is) by a *StaleError.
var ErrStale = errors.New("world: stale")

// StaleError is how a commit hook refuses a commit whose reads or writes
// are stale. Fresh is a cut of the store at Clock: every value written
// after the commit's Synced clock up to Clock. The World installs it
// (Refresh) and the transaction reruns on it; see the package
// documentation, "Many processes".
type StaleError struct {
	Clock uint64
	Fresh []Value
}

// Error names the fresh values and their versions.
func (e *StaleError) Error() string {
	names := make([]string, len(e.Fresh))
	for i, v := range e.Fresh {
		names[i] = fmt.Sprintf("%s@%d", v.Name, v.Version)
	}
	return fmt.Sprintf("world: stale; fresh values at clock %d: %v", e.Clock, names)
}

// Is reports whether target is ErrStale.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// New returns an empty World.
func New() *World {
	return &World{vars: make(map[string]*entry), pending: make(map[string]Value)}
}

// NamedE returns the var called name in w, creating it if needed. A new var
// starts with the value restored or refreshed for name before it was
// declared, if any, and otherwise with initial at version 0; an existing
// var keeps its value.
//
// It returns an error wrapping ErrTypeMismatch if name is declared with
// another type or its waiting value does not decode into T, and an error if
// T cannot be encoded as CBOR (checked on initial).
func NamedE[T any](w *World, name string, initial T) (*stm.Var[T], error) {
	typ := reflect.TypeFor[T]()
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.vars[name]; ok {
		v, ok := e.v.(*stm.Var[T])
		if !ok {
			return nil, fmt.Errorf("%w: %q is a Var[%v], not a Var[%v]", ErrTypeMismatch, name, e.typ, typ)
		}
		return v, nil
	}
	if _, err := codec.Enc.Marshal(initial); err != nil {
		return nil, fmt.Errorf("world: var %q: %v is not encodable as CBOR: %w", name, typ, err)
	}
	x, version := initial, uint64(0)
	if p, ok := w.pending[name]; ok {
		var err error
		if x, err = decode[T](p.Value); err != nil {
			return nil, fmt.Errorf("%w: the value of %q at version %d does not decode into %v: %w", ErrTypeMismatch, name, p.Version, typ, err)
		}
		version = p.Version
		delete(w.pending, name)
	}
	v := stm.NewOwned((*owner)(w), name, x, version)
	w.vars[name] = &entry{
		v:   v,
		typ: typ,
		get: func(tx *stm.Tx) (any, uint64) { return v.Get(tx), v.Stamp(tx) },
		decode: func(b []byte) (func(*stm.Tx, uint64), error) {
			x, err := decode[T](b)
			if err != nil {
				return nil, err
			}
			return func(tx *stm.Tx, version uint64) {
				if v.Stamp(tx) < version {
					v.SetStamped(tx, x, version)
				}
			}, nil
		},
	}
	return v, nil
}

// Named is NamedE for declarations that cannot fail in a correct program:
// it panics where NamedE returns an error.
func Named[T any](w *World, name string, initial T) *stm.Var[T] {
	v, err := NamedE(w, name, initial)
	if err != nil {
		panic(err)
	}
	return v
}

// decode decodes b into a T, and never panics on hostile bytes.
func decode[T any](b []byte) (x T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("world: decoding %v: %v", reflect.TypeFor[T](), r)
		}
	}()
	err = codec.Dec.Unmarshal(b, &x)
	return x, err
}

// Lookup returns the var called name, if it is declared.
func (w *World) Lookup(name string) (stm.AnyVar, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.vars[name]
	if !ok {
		return nil, false
	}
	return e.v, true
}

// Names returns the names of the declared vars, sorted.
func (w *World) Names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, 0, len(w.vars))
	for n := range w.vars {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// OnCommit sets the World's commit hook (nil removes it); there is one hook
// per World. See the package documentation, "Commit hooks", for the
// contract.
func (w *World) OnCommit(hook func(*Commit) error) {
	if hook == nil {
		w.hook.Store(nil)
		return
	}
	w.hook.Store(&hook)
}

func (w *World) entries() []*entry {
	w.mu.Lock()
	defer w.mu.Unlock()
	es := make([]*entry, 0, len(w.vars))
	for _, e := range w.vars {
		es = append(es, e)
	}
	return es
}

// snapEntry is a var in a snapshot.
type snapEntry struct {
	_       struct{} `cbor:",toarray"`
	Version uint64
	Value   cbor.RawMessage
}

// Snapshot returns the values of all the World's vars at one instant, with
// their versions, as a deterministic CBOR map from name to [version,
// value]: equal states give equal bytes. Values kept for names not yet
// declared are included as they are.
//
// Snapshot is a transaction: it returns an error wrapping stm.ErrNested
// when called inside one or from a commit hook.
func (w *World) Snapshot() ([]byte, error) {
	es := w.entries()
	type read struct {
		x       any
		version uint64
	}
	reads, err := stm.Atomically(func(tx *stm.Tx) ([]read, error) {
		rs := make([]read, len(es))
		for i, e := range es {
			rs[i].x, rs[i].version = e.get(tx)
		}
		return rs, nil
	})
	if err != nil {
		return nil, err
	}
	m := make(map[string]snapEntry, len(reads))
	w.mu.Lock()
	for n, p := range w.pending {
		m[n] = snapEntry{Version: p.Version, Value: p.Value}
	}
	w.mu.Unlock()
	for i, r := range reads {
		b, err := codec.Enc.Marshal(r.x)
		if err != nil {
			return nil, fmt.Errorf("world: snapshot of %q: %w", es[i].v.Name(), err)
		}
		m[es[i].v.Name()] = snapEntry{Version: r.version, Value: b}
	}
	return codec.Enc.Marshal(m)
}

// Restore brings the World up to date with a snapshot made by Snapshot:
// it is Refresh with the snapshot's values, at clock 0 (a snapshot is not
// a cut of a store). Corrupt or hostile input gives an error, never a
// panic, and changes nothing.
func (w *World) Restore(b []byte) error {
	var m map[string]snapEntry
	if err := codec.Dec.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("world: restoring: %w", err)
	}
	vals := make([]Value, 0, len(m))
	for n, e := range m {
		vals = append(vals, Value{Name: n, Value: e.Value, Version: e.Version})
	}
	if err := w.Refresh(0, vals); err != nil {
		return fmt.Errorf("world: restoring: %w", err)
	}
	return nil
}

// installKey marks the context of Refresh's own transactions, which the
// commit hook must not see.
type installKey struct{}

// Refresh brings the World up to date with values read from a store at
// store clock clock: each value replaces the var's current one if its
// version is newer (a value at version 0 therefore never replaces
// anything). Values of names not declared yet are kept, newest version
// first, and given to the var when it is declared. The declared vars change
// in one transaction, which wakes the transactions waiting (Retry) on them;
// the commit hook is not called. Then Synced becomes clock, if that is
// later.
//
// For read-only transactions to see states the store went through, vals
// must be a cut: every value the store holds written after Synced, up to
// clock (store.WorldSince(Synced) gives one). A store without a clock
// passes 0.
//
// Each value is decoded into its var's type first: if one does not decode
// (ErrTypeMismatch) or is not a value the World could snapshot again,
// Refresh changes nothing and returns an error. Of several values of one
// name, the newest counts.
// Refresh is a transaction: it must not be called inside one or from a
// commit hook (stm.ErrNested).
func (w *World) Refresh(clock uint64, vals []Value) error {
	// Name order, newest version first; older duplicates are skipped.
	vals = slices.Clone(vals)
	slices.SortFunc(vals, func(a, b Value) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(b.Version, a.Version))
	})
	type install struct {
		do      func(*stm.Tx, uint64)
		version uint64
	}
	var installs []install
	pending := make(map[string]Value)
	w.mu.Lock()
	for i, v := range vals {
		if i > 0 && vals[i-1].Name == v.Name {
			continue
		}
		e, ok := w.vars[v.Name]
		if !ok {
			// Kept as bytes until a var of that name is declared: they must
			// be a value the World can snapshot again (the decoder lets
			// through some items the encoder refuses, such as a bignum tag
			// on a non-byte-string).
			if _, err := codec.Enc.Marshal(cbor.RawMessage(v.Value)); err != nil {
				w.mu.Unlock()
				return fmt.Errorf("world: value of %q: %w", v.Name, err)
			}
			if p, ok := w.pending[v.Name]; v.Version > 0 && (!ok || p.Version < v.Version) {
				pending[v.Name] = Value{Name: v.Name, Value: slices.Clone(v.Value), Version: v.Version}
			}
			continue
		}
		do, err := e.decode(v.Value)
		if err != nil {
			w.mu.Unlock()
			return fmt.Errorf("%w: the value of %q at version %d does not decode into %v: %w", ErrTypeMismatch, v.Name, v.Version, e.typ, err)
		}
		installs = append(installs, install{do, v.Version})
	}
	for n, v := range pending {
		w.pending[n] = v
	}
	// Commit without holding w.mu: a commit hook running on one of these
	// vars may itself need w.mu (Names, Lookup, NamedE).
	w.mu.Unlock()
	if len(installs) > 0 {
		ctx := context.WithValue(context.Background(), installKey{}, w)
		_, err := stm.AtomicallyContext(ctx, func(tx *stm.Tx) (struct{}, error) {
			for _, in := range installs {
				in.do(tx, in.version)
			}
			return struct{}{}, nil
		})
		if err != nil {
			return err
		}
	}
	w.advance(clock)
	return nil
}

// Synced returns the store clock of the cut of the store the World shows:
// it has installed every value the store held at that clock. Ask the store
// for what changed after it (store.WorldSince) to refresh.
func (w *World) Synced() uint64 { return w.synced.Load() }

// advance moves Synced forward to clock.
func (w *World) advance(clock uint64) {
	for {
		s := w.synced.Load()
		if clock <= s || w.synced.CompareAndSwap(s, clock) {
			return
		}
	}
}

// owner is the World as the stm core sees it: the Owner of its vars.
type owner World

// Prepare calls the commit hook with the commit's reads and writes of the
// World's vars, and turns what it says into what the stm core does: publish
// (and advance Synced), rerun on fresh values (a *StaleError), or let the
// World publish the commit together with what it missed (Landed with
// values since Synced).
func (o *owner) Prepare(c *stm.Commit) error {
	w := (*World)(o)
	if c.Context.Value(installKey{}) == w {
		return nil
	}
	hook := w.hook.Load()
	if hook == nil {
		return nil
	}
	wc := &Commit{Context: c.Context, Synced: w.Synced(), Reads: make([]Read, len(c.Reads)), Writes: make([]Write, len(c.Writes))}
	for i, r := range c.Reads {
		wc.Reads[i] = Read{Name: r.Var.Name(), Version: r.Stamp}
	}
	for i, x := range c.Writes {
		b, err := codec.Enc.Marshal(x.Value)
		if err != nil {
			return fmt.Errorf("world: encoding %q for the commit hook: %w", x.Var.Name(), err)
		}
		wc.Writes[i] = Write{Name: x.Var.Name(), Value: b, Prev: x.Prev}
	}
	slices.SortFunc(wc.Reads, func(a, b Read) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(wc.Writes, func(a, b Write) int { return cmp.Compare(a.Name, b.Name) })
	err := (*hook)(wc)
	if err != nil {
		var stale *StaleError
		if !errors.As(err, &stale) {
			return fmt.Errorf("world: commit hook: %w", err)
		}
		if !newer(wc, stale.Fresh) {
			// Installing these would change nothing this commit saw, and the
			// rerun would be refused again, forever.
			return fmt.Errorf("world: commit hook refused the commit as stale without a newer value of any var it read or wrote: %w", err)
		}
		clock, fresh := stale.Clock, stale.Fresh
		return &stm.Conflict{Err: err, Refresh: func() error { return w.Refresh(clock, fresh) }}
	}
	if !wc.landed {
		return nil
	}
	since := wc.others()
	if wc.clock == wc.Synced+1 && len(since) == 0 {
		// The World showed the store as it was just before this commit:
		// publishing it shows the store as it is just after.
		clock := wc.clock
		c.Published = func() { w.advance(clock) }
		return nil
	}
	// Other commits landed between Synced and this one, and the World
	// does not show them yet: publishing this commit alone would show a
	// state the store never went through. Install them and this commit's
	// writes at once instead.
	cut := slices.Clip(since)
	for _, x := range wc.Writes {
		cut = append(cut, Value{Name: x.Name, Value: x.Value, Version: x.Prev + 1})
	}
	clock := wc.clock
	return &stm.Handoff{Refresh: func() error { return w.Refresh(clock, cut) }}
}

// newer reports whether fresh holds a newer version of a var that c read or
// wrote than the one c saw.
func newer(c *Commit, fresh []Value) bool {
	seen := make(map[string]uint64, len(c.Reads)+len(c.Writes))
	for _, r := range c.Reads {
		seen[r.Name] = r.Version
	}
	for _, x := range c.Writes {
		seen[x.Name] = x.Prev
	}
	for _, f := range fresh {
		if v, ok := seen[f.Name]; ok && f.Version > v {
			return true
		}
	}
	return false
}
