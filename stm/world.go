package stm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	amcodec "github.com/amberrt/amber/internal/codec"
	"github.com/fxamacker/cbor/v2"
)

// World is a named set of vars that can be snapshotted to CBOR, restored,
// and observed commit by commit. A durable interpreter keeps the shared
// state of its tasks in a World.
type World struct {
	mu      sync.Mutex
	vars    map[string]*varCore
	pending map[string]cbor.RawMessage // restored values of undeclared names
	hook    atomic.Pointer[func(Commit) error]
}

// Commit describes the writes a committing transaction makes to the vars
// of one World. It is passed to the World's commit hook.
type Commit struct {
	// Version is the commit's position in the global version clock: commits
	// that touch a common var are ordered by Version. It is meaningful only
	// within one process run.
	Version uint64
	// Writes holds the new values of the World's vars written by the
	// commit, in name order, each encoded as deterministic CBOR.
	Writes []Write
	// Context is the context given to AtomicallyContext or AttemptContext,
	// or context.Background().
	Context context.Context
}

// Write is the new value of one world var.
type Write struct {
	// Name names the var in its World.
	Name  string
	Value []byte // Core Deterministic CBOR of the value
}

// ErrTypeMismatch is returned by NamedE when a name is already declared with
// another type, or when a restored value does not decode into the var's type.
var ErrTypeMismatch = errors.New("stm: world var type mismatch")

// World vars are encoded with amber's one CBOR configuration, the one
// that journals and records use.
var (
	encMode = amcodec.Enc
	decMode = amcodec.Dec
)

// codec encodes and decodes the values of a world var of one type.
type codec struct {
	typ reflect.Type
	enc func(box unsafe.Pointer) ([]byte, error)
	dec func(b []byte) (box unsafe.Pointer, err error)
}

func codecFor[T any]() *codec {
	return &codec{
		typ: reflect.TypeFor[T](),
		enc: func(p unsafe.Pointer) ([]byte, error) {
			return encMode.Marshal((*box[T])(p).val)
		},
		dec: func(b []byte) (_ unsafe.Pointer, err error) {
			defer func() {
				if r := recover(); r != nil { // never let hostile bytes panic
					err = fmt.Errorf("stm: decoding %v: %v", reflect.TypeFor[T](), r)
				}
			}()
			p := new(box[T])
			if err := decMode.Unmarshal(b, &p.val); err != nil {
				return nil, err
			}
			return unsafe.Pointer(p), nil
		},
	}
}

// NewWorld returns an empty World.
func NewWorld() *World {
	return &World{vars: make(map[string]*varCore), pending: make(map[string]cbor.RawMessage)}
}

// NamedE returns the var called name in w, creating it if needed. A new
// var starts with the value restored for name by an earlier Restore, if
// any, and otherwise with initial; an existing var keeps its value.
//
// It returns an error wrapping ErrTypeMismatch if name is declared with
// another type or its restored value does not decode into T, and an error if
// T cannot be encoded as CBOR (checked on initial).
func NamedE[T any](w *World, name string, initial T) (*Var[T], error) {
	typ := reflect.TypeFor[T]()
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.vars[name]; ok {
		if c.codec.typ != typ {
			return nil, fmt.Errorf("%w: %q is a Var[%v], not a Var[%v]", ErrTypeMismatch, name, c.codec.typ, typ)
		}
		return (*Var[T])(unsafe.Pointer(c)), nil // core is Var[T]'s only field
	}
	cd := codecFor[T]()
	if _, err := encMode.Marshal(initial); err != nil {
		return nil, fmt.Errorf("stm: world var %q: %v is not encodable as CBOR: %w", name, typ, err)
	}
	v := NewVar(initial)
	if b, ok := w.pending[name]; ok {
		p, err := cd.dec(b)
		if err != nil {
			return nil, fmt.Errorf("%w: restored value of %q does not decode into %v: %w", ErrTypeMismatch, name, typ, err)
		}
		v.core.cur = p
		delete(w.pending, name)
	}
	v.core.name = name
	v.core.world = w
	v.core.codec = cd
	w.vars[name] = &v.core
	return v, nil
}

// Named is NamedE for declarations that cannot fail in a correct program:
// it panics where NamedE returns an error.
func Named[T any](w *World, name string, initial T) *Var[T] {
	v, err := NamedE(w, name, initial)
	if err != nil {
		panic(err)
	}
	return v
}

// Lookup returns the var called name, if it is declared.
func (w *World) Lookup(name string) (AnyVar, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.vars[name]
	if !ok {
		return nil, false
	}
	return anyCore{c}, true
}

// anyCore presents a varCore as an AnyVar.
type anyCore struct{ c *varCore }

func (a anyCore) Name() string     { return a.c.name }
func (a anyCore) ID() uint64       { return a.c.id }
func (a anyCore) World() *World    { return a.c.world }
func (a anyCore) anyVar() *varCore { return a.c }

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
// per World. See the package documentation, "Durability", for the contract.
func (w *World) OnCommit(hook func(Commit) error) {
	if hook == nil {
		w.hook.Store(nil)
		return
	}
	w.hook.Store(&hook)
}

func (w *World) cores() []*varCore {
	w.mu.Lock()
	defer w.mu.Unlock()
	cs := make([]*varCore, 0, len(w.vars))
	for _, c := range w.vars {
		cs = append(cs, c)
	}
	return cs
}

// Snapshot returns the values of all the World's vars at one instant, as
// a deterministic CBOR map from name to value: equal states give equal
// bytes. Values restored for names not yet declared are included as they
// were restored.
//
// Snapshot is a transaction: it returns an error wrapping ErrNested when
// called inside one or from a commit hook.
func (w *World) Snapshot() ([]byte, error) {
	cs := w.cores()
	type read struct {
		c *varCore
		p unsafe.Pointer
	}
	reads, err := Atomically(func(tx *Tx) ([]read, error) {
		rs := make([]read, len(cs))
		for i, c := range cs {
			rs[i] = read{c, tx.read(c)}
		}
		return rs, nil
	})
	if err != nil {
		return nil, err
	}
	m := make(map[string]cbor.RawMessage, len(reads))
	w.mu.Lock()
	for n, b := range w.pending {
		m[n] = b
	}
	w.mu.Unlock()
	for _, r := range reads {
		b, err := r.c.codec.enc(r.p)
		if err != nil {
			return nil, fmt.Errorf("stm: snapshot of %q: %w", r.c.name, err)
		}
		m[r.c.name] = b
	}
	return encMode.Marshal(m)
}

// Restore sets the World's vars to the values in a snapshot made by
// Snapshot, atomically: on error nothing changes. Each value is decoded into
// its var's own type. Values of names not declared yet are kept and given to
// the var when it is declared (so a World can be restored before the
// program that declares its vars starts). Declared vars absent from the
// snapshot keep their values. Restore wakes waiting transactions like any
// commit but does not call the commit hook.
//
// Corrupt or hostile input gives an error, never a panic. Restore is meant
// for start-up: concurrent Restores of one World are not ordered.
func (w *World) Restore(b []byte) error {
	var m map[string]cbor.RawMessage
	if err := decMode.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("stm: restoring world: %w", err)
	}
	tx := enter(nil)
	if tx == nil {
		return nestedError("World.Restore")
	}
	defer leave(tx)
	tx.noHooks = true

	type write struct {
		c *varCore
		p unsafe.Pointer
	}
	var writes []write
	pending := make(map[string]cbor.RawMessage)
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	w.mu.Lock()
	for _, n := range names {
		raw := m[n]
		c, ok := w.vars[n]
		if !ok {
			// Kept as bytes until a var of that name is declared: they must
			// be a value the world can snapshot again (the decoder lets
			// through some items the encoder refuses, such as a bignum tag
			// on a non-byte-string).
			if _, err := encMode.Marshal(raw); err != nil {
				w.mu.Unlock()
				return fmt.Errorf("stm: restoring world: value of %q: %w", n, err)
			}
			pending[n] = slices.Clone(raw)
			continue
		}
		p, err := c.codec.dec(raw)
		if err != nil {
			w.mu.Unlock()
			return fmt.Errorf("%w: restoring %q into %v: %w", ErrTypeMismatch, n, c.codec.typ, err)
		}
		writes = append(writes, write{c, p})
	}
	w.pending = pending
	// Commit without holding w.mu: a commit hook running on one of these
	// vars may itself need w.mu (Names, Lookup, NamedE).
	w.mu.Unlock()

	for attempt := 0; ; attempt++ {
		tx.begin()
		for _, wr := range writes {
			tx.addWrite(wr.c, wr.p)
		}
		err := tx.commit()
		if err == nil {
			return nil
		}
		if err != errConflict {
			return err
		}
		backoff(attempt)
	}
}

// runHooks calls the commit hook of each World that tx writes to, with the
// writes locked and validated but not yet published.
func (tx *Tx) runHooks(wv uint64) error {
	var first *World
	for i := range tx.writes {
		if c := tx.writes[i].c; c.world != nil && c.world.hook.Load() != nil {
			first = c.world
			break
		}
	}
	if first == nil {
		return nil
	}
	done := map[*World]bool{}
	for i := range tx.writes {
		w := tx.writes[i].c.world
		if w == nil || done[w] {
			continue
		}
		done[w] = true
		hook := w.hook.Load()
		if hook == nil {
			continue
		}
		var writes []Write
		for j := range tx.writes {
			c := tx.writes[j].c
			if c.world != w {
				continue
			}
			b, err := c.codec.enc(tx.writes[j].p)
			if err != nil {
				return fmt.Errorf("stm: encoding %q for the commit hook: %w", c.name, err)
			}
			writes = append(writes, Write{Name: c.name, Value: b})
		}
		slices.SortFunc(writes, func(a, b Write) int { return cmp.Compare(a.Name, b.Name) })
		ctx := tx.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		if err := (*hook)(Commit{Version: wv, Writes: writes, Context: ctx}); err != nil {
			return fmt.Errorf("stm: commit hook: %w", err)
		}
	}
	return nil
}
