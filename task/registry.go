package task

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/amberrt/amber/effect"
)

// Registry maps the names stored in records to what a process can run and
// decode: programs by name and version, message types and error sentinels by
// stable names. Every process that loads a task must register the same names.
// A Registry is safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	programs map[programKey]effect.AnyProgram
	latest   map[string]effect.AnyProgram

	msgByName map[string]reflect.Type
	msgByType map[reflect.Type]string

	errs      []namedError // in registration order: EncodeError takes the first match
	errByName map[string]error
	errTypes  []namedErrorType // in registration order
}

// namedErrorType is a registered error type: typ is the type E of
// RegisterErrorType (a pointer type, usually).
type namedErrorType struct {
	name string
	typ  reflect.Type
}

type programKey struct {
	name    string
	version int
}

type namedError struct {
	name     string
	sentinel error
}

// NewRegistry returns a registry with no programs. It knows the message types
// string, bool, int, int64, uint64, float64 and []byte under their Go names,
// effect.Exit and effect.Down (the messages of links and monitors), the
// error types *effect.ExitError, *effect.PanicError and *DivergenceError,
// and the errors context.Canceled, context.DeadlineExceeded and the
// sentinel errors of package effect under their Go names
// ("effect.ErrCancelled").
func NewRegistry() *Registry {
	r := &Registry{
		programs:  make(map[programKey]effect.AnyProgram),
		latest:    make(map[string]effect.AnyProgram),
		msgByName: make(map[string]reflect.Type),
		msgByType: make(map[reflect.Type]string),
		errByName: make(map[string]error),
	}
	for _, t := range []reflect.Type{
		reflect.TypeFor[string](), reflect.TypeFor[bool](), reflect.TypeFor[int](),
		reflect.TypeFor[int64](), reflect.TypeFor[uint64](), reflect.TypeFor[float64](),
		reflect.TypeFor[[]byte](),
	} {
		_ = r.addMessage(t, t.String())
	}
	_ = RegisterMessage[effect.Exit](r, "effect.Exit")
	_ = RegisterMessage[effect.Down](r, "effect.Down")
	_ = RegisterErrorType[*effect.ExitError](r, "effect.ExitError")
	_ = RegisterErrorType[*effect.PanicError](r, "effect.PanicError")
	_ = RegisterErrorType[*DivergenceError](r, "task.DivergenceError")
	for _, e := range []namedError{
		{"context.Canceled", context.Canceled},
		{"context.DeadlineExceeded", context.DeadlineExceeded},
		{"effect.ErrCancelled", effect.ErrCancelled},
		{"effect.ErrNilProgram", effect.ErrNilProgram},
		{"effect.ErrNilError", effect.ErrNilError},
		{"effect.ErrEmptyRace", effect.ErrEmptyRace},
		{"effect.ErrNilVar", effect.ErrNilVar},
		{"effect.ErrNameTaken", effect.ErrNameTaken},
		{"effect.ErrWrongGoroutine", effect.ErrWrongGoroutine},
		{"effect.ErrGoexit", effect.ErrGoexit},
	} {
		_ = RegisterError(r, e.name, e.sentinel)
	}
	return r
}

// Errors of the registry.
var (
	// ErrUnknownProgram is matched by *UnknownProgramError.
	ErrUnknownProgram = errors.New("task: unknown program")
	// ErrUnregisteredType is matched by the error of encoding a message of
	// a type that was not registered, or decoding an envelope whose type
	// name is unknown.
	ErrUnregisteredType = errors.New("task: unregistered type")
	// ErrDuplicate is matched by the error of registering a name (or a
	// program version, or a type) twice.
	ErrDuplicate = errors.New("task: already registered")
	// ErrVersionTypes is matched by the error of registering a version of
	// a program whose input or output type differs from its other
	// versions'.
	ErrVersionTypes = errors.New("task: versions of a program differ in their types")
)

// UnknownProgramError reports a program name and version that a registry
// does not hold. A task that needs one is parked, not failed: another process
// (or a later deployment) may know it.
type UnknownProgramError struct {
	// Name is the program asked for.
	Name    string
	Version int // 0 when the name itself is unknown (Latest)
}

// Error names the program and the version.
func (e *UnknownProgramError) Error() string {
	if e.Version == 0 {
		return fmt.Sprintf("task: unknown program %q", e.Name)
	}
	return fmt.Sprintf("task: unknown program %q version %d", e.Name, e.Version)
}

// Is reports whether target is ErrUnknownProgram.
func (e *UnknownProgramError) Is(target error) bool { return target == ErrUnknownProgram }

// Register adds p under its name and version. Registering the same name and
// version twice is an error, even with the same program.
func Register[I, O any](r *Registry, p *effect.Program[I, O]) error {
	if p == nil {
		return errors.New("task: register: nil program")
	}
	return r.Add(p)
}

// Add is Register for a program whose types are not known statically.
func (r *Registry) Add(p effect.AnyProgram) error {
	if p == nil || reflect.ValueOf(p).Kind() == reflect.Pointer && reflect.ValueOf(p).IsNil() {
		return errors.New("task: register: nil program")
	}
	name, version := p.ProgramName(), p.ProgramVersion()
	if name == "" {
		return errors.New("task: register: program has no name")
	}
	if version < 0 {
		return fmt.Errorf("task: register %s: negative version %d", name, version)
	}
	for _, t := range []reflect.Type{p.InputType(), p.OutputType()} {
		if err := checkWire(t); err != nil {
			return fmt.Errorf("task: register %s v%d: %w", name, version, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := programKey{name, version}
	if _, ok := r.programs[k]; ok {
		return fmt.Errorf("%w: program %q version %d", ErrDuplicate, name, version)
	}
	if l, ok := r.latest[name]; ok && (l.InputType() != p.InputType() || l.OutputType() != p.OutputType()) {
		// A task moves between versions (a migration, a forever task that
		// continues on the current one) and keeps its input and its
		// typed handles: a change of types is a new program.
		return fmt.Errorf("%w: program %q version %d takes %v and returns %v, but version %d takes %v and returns %v; versions of a program share their types (give a program with other types another name)",
			ErrVersionTypes, name, version, p.InputType(), p.OutputType(), l.ProgramVersion(), l.InputType(), l.OutputType())
	}
	r.programs[k] = p
	if l, ok := r.latest[name]; !ok || l.ProgramVersion() < version {
		r.latest[name] = p
	}
	return nil
}

// Program returns the program registered under name and version, or an
// *UnknownProgramError.
func (r *Registry) Program(name string, version int) (effect.AnyProgram, error) {
	r.mu.RLock()
	p, ok := r.programs[programKey{name, version}]
	r.mu.RUnlock()
	if !ok {
		return nil, &UnknownProgramError{Name: name, Version: version}
	}
	return p, nil
}

// Current returns the version of program name that new tasks start on:
// the highest registered. It is the Registry's side of Resolver.
func (r *Registry) Current(name string) (int, error) {
	p, err := r.Latest(name)
	if err != nil {
		return 0, err
	}
	return p.ProgramVersion(), nil
}

// Resolver decides which program runs a task: the one place where the
// interpreters (durable, replay, spawn, start), the deploy check and the
// router look a program up. A Registry is a Resolver over the programs it
// holds, whose new tasks start on the highest version; the durable
// interpreter's adds the version marked current in its store.
type Resolver interface {
	// Program returns the program name at version, or an error matching
	// ErrUnknownProgram.
	Program(name string, version int) (effect.AnyProgram, error)
	// Current returns the version new tasks of program name start on, or
	// an error matching ErrUnknownProgram.
	Current(name string) (int, error)
}

var _ Resolver = (*Registry)(nil)

// Latest returns the highest version registered under name, or an
// *UnknownProgramError with Version 0.
func (r *Registry) Latest(name string) (effect.AnyProgram, error) {
	r.mu.RLock()
	p, ok := r.latest[name]
	r.mu.RUnlock()
	if !ok {
		return nil, &UnknownProgramError{Name: name}
	}
	return p, nil
}

// Programs returns every registered program, ordered by name and version.
func (r *Registry) Programs() []effect.AnyProgram {
	r.mu.RLock()
	out := make([]effect.AnyProgram, 0, len(r.programs))
	for _, p := range r.programs {
		out = append(out, p)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b effect.AnyProgram) int {
		return cmp.Or(cmp.Compare(a.ProgramName(), b.ProgramName()),
			cmp.Compare(a.ProgramVersion(), b.ProgramVersion()))
	})
	return out
}

// Versions returns the (program, version) pairs registered, ordered by
// program and version: what a worker with this registry can run.
func (r *Registry) Versions() []ProgramVersion {
	ps := r.Programs()
	out := make([]ProgramVersion, len(ps))
	for i, p := range ps {
		out[i] = ProgramVersion{Program: p.ProgramName(), Version: p.ProgramVersion()}
	}
	return out
}

// DecodeInput decodes data into a value of p's input type and returns the
// value (an I, not a *I), ready for p.Start. Empty data stands for the zero
// input.
func DecodeInput(p effect.AnyProgram, data []byte) (any, error) {
	return decodeAs(p, "input", p.InputType(), data)
}

// DecodeOutput decodes data, a stored result of program p (Record.Result),
// into a value of p's output type.
func DecodeOutput(p effect.AnyProgram, data []byte) (any, error) {
	return decodeAs(p, "result", p.OutputType(), data)
}

func decodeAs(p effect.AnyProgram, what string, t reflect.Type, data []byte) (any, error) {
	if len(data) == 0 {
		return reflect.Zero(t).Interface(), nil
	}
	v := reflect.New(t)
	if err := unmarshal(decMode, data, v.Interface()); err != nil {
		return nil, fmt.Errorf("task: decode %s of %s v%d as %v: %w", what, p.ProgramName(), p.ProgramVersion(), t, err)
	}
	return v.Elem().Interface(), nil
}

// RegisterMessage registers M, a type of message that crosses process
// boundaries (in a mailbox, in a SendOp), under a stable name; the name is
// what envelopes store, so keep it when the Go type is renamed or moved.
// An empty name stands for M's Go type string, such as "main.Order".
// A name or a type may be registered only once.
func RegisterMessage[M any](r *Registry, name string) error {
	t := reflect.TypeFor[M]()
	if name == "" {
		name = t.String()
	}
	return r.addMessage(t, name)
}

func (r *Registry) addMessage(t reflect.Type, name string) error {
	if t.Kind() == reflect.Interface {
		return fmt.Errorf("task: register message %q: %v is an interface type; register its concrete types", name, t)
	}
	if err := checkWire(t); err != nil {
		return fmt.Errorf("task: register message %q: %w", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.msgByName[name]; ok {
		return fmt.Errorf("%w: message name %q (for %v)", ErrDuplicate, name, old)
	}
	if old, ok := r.msgByType[t]; ok {
		return fmt.Errorf("%w: message type %v (as %q)", ErrDuplicate, t, old)
	}
	r.msgByName[name] = t
	r.msgByType[t] = name
	return nil
}

// EncodeMessage puts m in an envelope. The error for a type that was not
// registered matches ErrUnregisteredType and names the Go type; for a value
// that could not be decoded back (nested too deep, see Marshal), it
// matches ErrUnstorable: a sender learns it at Send, not its receiver at
// Receive.
func (r *Registry) EncodeMessage(m any) (Envelope, error) {
	t := reflect.TypeOf(m)
	if t == nil {
		return Envelope{}, errors.New("task: encode message: nil message")
	}
	r.mu.RLock()
	name, ok := r.msgByType[t]
	r.mu.RUnlock()
	if !ok {
		return Envelope{}, fmt.Errorf("task: encode message: %w: %v (register it with task.RegisterMessage)", ErrUnregisteredType, t)
	}
	data, err := marshalValue(m)
	if err != nil {
		return Envelope{}, fmt.Errorf("task: encode message %s: %w", name, err)
	}
	return Envelope{Type: name, Data: data}, nil
}

// DecodeMessage takes a message out of its envelope and returns it as a
// value of its registered type (not a pointer). An unknown type name gives an
// error matching ErrUnregisteredType; malformed data, one matching ErrCorrupt.
func (r *Registry) DecodeMessage(e Envelope) (any, error) {
	r.mu.RLock()
	t, ok := r.msgByName[e.Type]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("task: decode message: %w: no message type is registered as %q", ErrUnregisteredType, e.Type)
	}
	if len(e.Data) == 0 {
		return nil, fmt.Errorf("task: decode message %s: %w", e.Type, &corruptError{errors.New("empty data")})
	}
	v := reflect.New(t)
	if err := unmarshal(decMode, e.Data, v.Interface()); err != nil {
		return nil, fmt.Errorf("task: decode message %s: %w", e.Type, err)
	}
	return v.Elem().Interface(), nil
}

// RegisterError registers sentinel under a stable name, so that an error
// recorded in a journal (see EncodeError) still matches sentinel with
// errors.Is when it is replayed, in this process or another.
func RegisterError(r *Registry, name string, sentinel error) error {
	if name == "" || sentinel == nil {
		return errors.New("task: register error: empty name or nil sentinel")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.errByName[name]; ok {
		return fmt.Errorf("%w: error name %q", ErrDuplicate, name)
	}
	r.errByName[name] = sentinel
	r.errs = append(r.errs, namedError{name, sentinel})
	return nil
}

// RegisterErrorType registers the error type E under a stable name: an
// error whose chain holds an E (errors.As) is stored with E's fields, CBOR
// encoded, and Registry.DecodeError brings the E back, so that errors.As
// finds it after a replay or a restart, in this process or another.
// Its message stays the original error's. E is usually a pointer to a
// struct, like *MyError. Sentinels (RegisterError) are matched first.
func RegisterErrorType[E error](r *Registry, name string) error {
	if name == "" {
		return errors.New("task: register error type: empty name")
	}
	t := reflect.TypeFor[E]()
	if t.Kind() == reflect.Interface {
		return fmt.Errorf("task: register error type %s: %v is an interface, not a concrete type", name, t)
	}
	if err := checkWire(t); err != nil {
		return fmt.Errorf("task: register error type %s: %w", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.errByName[name]; ok {
		return fmt.Errorf("%w: error name %q", ErrDuplicate, name)
	}
	for _, et := range r.errTypes {
		if et.name == name || et.typ == t {
			return fmt.Errorf("%w: error type %v (as %q)", ErrDuplicate, et.typ, et.name)
		}
	}
	r.errByName[name] = nil
	r.errTypes = append(r.errTypes, namedErrorType{name, t})
	return nil
}

// EncodeError returns the stored form of err: Msg is err.Error() and Type the
// name of the first registered sentinel (in registration order) that err
// matches with errors.Is, or "" (or the Type of a *Error that err wraps).
// A nil err gives nil.
func (r *Registry) EncodeError(err error) *Error {
	if err == nil {
		return nil
	}
	e := &Error{Msg: err.Error()}
	r.mu.RLock()
	for _, ne := range r.errs {
		if errors.Is(err, ne.sentinel) {
			e.Type = ne.name
			break
		}
	}
	if e.Type == "" {
		for _, et := range r.errTypes {
			target := reflect.New(et.typ)
			if !errors.As(err, target.Interface()) {
				continue
			}
			if data, merr := encMode.Marshal(target.Elem().Interface()); merr == nil {
				e.Type, e.Data = et.name, data
			}
			break
		}
	}
	r.mu.RUnlock()
	if e.Type == "" {
		if s, ok := stored(err); ok {
			e.Type, e.Data = s.Type, s.Data
		}
	}
	return e
}

// DecodeError turns a stored error back into an error whose Error() is
// e.Msg and that matches (with errors.Is) the sentinel registered as e.Type,
// if there is one here. errors.As finds the *Error too. A nil e gives nil.
func (r *Registry) DecodeError(e *Error) error {
	if e == nil {
		return nil
	}
	r.mu.RLock()
	sentinel := r.errByName[e.Type]
	if sentinel == nil && len(e.Data) > 0 {
		for _, et := range r.errTypes {
			if et.name != e.Type {
				continue
			}
			v := reflect.New(et.typ)
			if unmarshal(decMode, e.Data, v.Interface()) == nil && !(v.Elem().Kind() == reflect.Pointer && v.Elem().IsNil()) {
				sentinel, _ = v.Elem().Interface().(error)
			}
			break
		}
	}
	r.mu.RUnlock()
	return &replayedError{e: *e, sentinel: sentinel}
}

// PID is the address of a task that accepts messages of type M: an alias of
// effect.PID, so that code that stores and loads tasks can say task.PID[M].
type PID[M any] = effect.PID[M]

// ErrWire is matched by the error of registering a type whose CBOR and
// JSON forms would disagree, or that cannot be stored.
var ErrWire = errors.New("task: type cannot be stored as both CBOR and JSON")

// checkWire refuses a type that cannot be stored (a func or a channel in
// it) or whose fields have different names in CBOR and in JSON: a cbor
// tag and a json tag that disagree. (A cbor tag alone, such as the
// integer keys of amber's own types, is a compact form CBOR only: JSON
// shows the Go name.)
func checkWire(t reflect.Type) error {
	return wireCheck(t, map[reflect.Type]bool{}, t.String())
}

func wireCheck(t reflect.Type, seen map[reflect.Type]bool, path string) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return fmt.Errorf("%w: %s is a %v", ErrWire, path, t.Kind())
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return wireCheck(t.Elem(), seen, path+"[]")
	case reflect.Map:
		if err := wireCheck(t.Key(), seen, path+" key"); err != nil {
			return err
		}
		return wireCheck(t.Elem(), seen, path+"[]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			cname, jname := fieldNames(f)
			_, hasJSON := f.Tag.Lookup("json")
			_, hasCBOR := f.Tag.Lookup("cbor")
			if cname != jname && hasJSON && hasCBOR {
				return fmt.Errorf("%w: field %s.%s is %q in CBOR and %q in JSON: name it with a json tag alone, which CBOR reads too", ErrWire, path, f.Name, cname, jname)
			}
			if cname == "-" {
				continue
			}
			if err := wireCheck(f.Type, seen, path+"."+f.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldNames returns the names of field f in CBOR and in JSON ("-" if it
// is left out). A cbor tag hides the json tag from the CBOR encoder.
func fieldNames(f reflect.StructField) (cbor, json string) {
	name := func(tag string) string {
		n, _, _ := strings.Cut(tag, ",")
		if n == "" {
			return f.Name
		}
		return n
	}
	json = name(f.Tag.Get("json"))
	cbor = json
	if tag := f.Tag.Get("cbor"); tag != "" {
		cbor = name(tag)
	}
	return cbor, json
}

// MessageJSON renders the message in env as JSON, through its registered
// Go type (so a time reads as RFC 3339, a []byte as base64, field names as
// the type's JSON names).
func (r *Registry) MessageJSON(env Envelope) ([]byte, error) {
	msg, err := r.DecodeMessage(env)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("task: message %s as JSON: %w", env.Type, err)
	}
	return data, nil
}

// InputFromJSON decodes the JSON form of an input of program p, ready
// for p.Start (an I, not a *I). Empty data stands for the zero input. A
// field the type does not have, or data after the value, is an error: a
// typo must not start a task on a zero value. (A message's JSON form is
// decoded by inspect.DecodeMessageJSON, for the CLI and the inspector.)
func InputFromJSON(p effect.AnyProgram, data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return reflect.Zero(p.InputType()).Interface(), nil
	}
	v, err := fromJSON(p.InputType(), data)
	if err != nil {
		return nil, fmt.Errorf("task: input of %s v%d from JSON: %w", p.ProgramName(), p.ProgramVersion(), err)
	}
	return v, nil
}

// OutputJSON renders a stored result of program p (Record.Result) as
// JSON, through p's output type.
func OutputJSON(p effect.AnyProgram, data []byte) ([]byte, error) {
	v, err := DecodeOutput(p, data)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("task: result of %s v%d as JSON: %w", p.ProgramName(), p.ProgramVersion(), err)
	}
	return out, nil
}

// ErrorJSON renders a stored error as JSON: {"type": ..., "message": ...,
// "fields": ...}, with the fields of a registered error type, if it is
// one and they decode here.
func (r *Registry) ErrorJSON(e *Error) ([]byte, error) {
	if e == nil {
		return []byte("null"), nil
	}
	out := struct {
		Type    string `json:"type,omitempty"`
		Message string `json:"message"`
		Fields  any    `json:"fields,omitempty"`
	}{Type: e.Type, Message: e.Msg}
	if len(e.Data) > 0 {
		r.mu.RLock()
		for _, et := range r.errTypes {
			if et.name == e.Type {
				v := reflect.New(et.typ)
				if unmarshal(decMode, e.Data, v.Interface()) == nil {
					out.Fields = v.Elem().Interface()
				}
				break
			}
		}
		r.mu.RUnlock()
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("task: error %s as JSON: %w", e.Type, err)
	}
	return data, nil
}

// fromJSON decodes data as a value of type t.
func fromJSON(t reflect.Type, data []byte) (any, error) {
	v := reflect.New(t)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v.Elem().Interface(), nil
}
