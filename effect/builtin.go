package effect

import (
	"fmt"
	"log/slog"
	"reflect"
	"time"
)

// The built-in ops. Their types are exported so that interpreters can
// recognise them and journals can render them; build them with the
// functions below (Log, Now, Sleep, ...), not by hand.

// LogOp writes a structured log record. The live interpreter writes it
// through log/slog; replay and resumption do not write it again.
type LogOp struct {
	Returns[Unit]
	// Level is the record's level.
	Level slog.Level
	// Msg is the record's message.
	Msg string
	// Attrs are the record's attributes, in order.
	Attrs []Attr `cbor:",omitempty"`
}

// Attr is one key and value of a log record.
type Attr struct {
	// Key names the attribute.
	Key string
	// Value is the attribute's value; it is journaled, so it must encode
	// as CBOR.
	Value any
}

// SlogAttrs returns the attributes as slog attributes.
func (o LogOp) SlogAttrs() []slog.Attr {
	out := make([]slog.Attr, len(o.Attrs))
	for i, a := range o.Attrs {
		out[i] = slog.Any(a.Key, a.Value)
	}
	return out
}

// Log writes a log record at level with slog-style arguments: alternating
// keys and values, or slog.Attr values.
//
//	effect.Log(slog.LevelInfo, "order accepted", "id", id, "total", total)
func Log(level slog.Level, msg string, args ...any) Eff[Unit] {
	return Eff[Unit]{LogOp{Level: level, Msg: msg, Attrs: attrs(args)}}
}

const badKey = "!BADKEY"

// attrs converts slog-style arguments the way log/slog does.
func attrs(args []any) []Attr {
	if len(args) == 0 {
		return nil
	}
	out := make([]Attr, 0, len(args)/2+1)
	for len(args) > 0 {
		switch k := args[0].(type) {
		case slog.Attr:
			out = append(out, Attr{k.Key, plain(k.Value.Resolve().Any())})
			args = args[1:]
		case string:
			if len(args) == 1 {
				out = append(out, Attr{badKey, k})
				args = args[1:]
				continue
			}
			out = append(out, Attr{k, plain(slog.AnyValue(args[1]).Resolve().Any())})
			args = args[2:]
		default:
			out = append(out, Attr{badKey, k})
			args = args[1:]
		}
	}
	return out
}

// plain turns a log value into plain data that journals can encode: an
// error becomes its message, a func or channel its printed form.
func plain(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int, int64, uint64, float64, time.Time, time.Duration:
		return v
	case error:
		return x.Error()
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return fmt.Sprint(v)
	}
	return v
}

// NowOp reads the clock: real time live, virtual time in the mock and the
// simulator, the recorded time in a replay.
type NowOp struct{ Returns[time.Time] }

// Now yields the current time (UTC, without a monotonic reading, so that a
// journaled time equals the live one).
func Now() Eff[time.Time] { return Eff[time.Time]{NowOp{}} }

// SleepOp waits for a duration of the interpreter's clock.
type SleepOp struct {
	Returns[Unit]
	// Duration is how long to wait.
	Duration time.Duration
}

// Sleep waits for d. A sleeping tree-style task holds no goroutine.
func Sleep(d time.Duration) Eff[Unit] { return Eff[Unit]{SleepOp{Duration: d}} }

// RandomOp draws 64 random bits: seeded in the mock and the simulator,
// recorded in the journal so a replay draws the same.
type RandomOp struct{ Returns[uint64] }

// Random yields 64 random bits.
func Random() Eff[uint64] { return Eff[uint64]{RandomOp{}} }

// PID is the address of a task that accepts messages of type M. Send
// accepts only an M for a PID[M], checked by the compiler.
type PID[M any] struct {
	// ID is the task's ID.
	ID string
}

// String returns the task ID.
func (p PID[M]) String() string { return p.ID }

// SendOp delivers a message to a task's mailbox. Delivery is asynchronous:
// Send returns once the message is accepted by the runtime.
type SendOp struct {
	Returns[Unit]
	// To is the ID of the receiving task.
	To string
	// Type names the message's Go type, so that messages of different
	// types with equal fields make different ops.
	Type string
	Msg  any
}

// Send sends msg to the task to.
func Send[M any](to PID[M], msg M) Eff[Unit] {
	return Eff[Unit]{SendOp{To: to.ID, Type: typeName[M](), Msg: msg}}
}

// ReceiveOp waits for the first message in the task's mailbox that is an M
// (and that satisfies the filter, if one was given), removes it and yields
// it. Other messages stay in the mailbox, in order: a selective receive.
type ReceiveOp[M any] struct {
	Returns[M]
	// Type names M, so that the journal tells receives of different types
	// apart.
	Type   string
	filter func(M) bool
}

// Accepts reports whether msg would satisfy the receive.
func (o ReceiveOp[M]) Accepts(msg any) bool {
	m, ok := msg.(M)
	if !ok {
		return false
	}
	return o.filter == nil || o.filter(m)
}

// MessageType names M.
func (o ReceiveOp[M]) MessageType() string { return o.Type }

// MessageGoType is M.
func (o ReceiveOp[M]) MessageGoType() reflect.Type { return reflect.TypeFor[M]() }

// Receiver is implemented by every ReceiveOp[M]: what an interpreter needs
// to match messages without knowing M.
type Receiver interface {
	// Accepts reports whether msg is a message the receive takes: of its
	// type, and kept by its filter if it has one.
	Accepts(msg any) bool
}

// Receive waits for the next message of type M.
func Receive[M any]() Eff[M] {
	return Eff[M]{ReceiveOp[M]{Type: typeName[M]()}}
}

// ReceiveMatch waits for the next message of type M for which keep returns
// true; keep must be a pure function of the message.
func ReceiveMatch[M any](keep func(M) bool) Eff[M] {
	return Eff[M]{ReceiveOp[M]{Type: typeName[M](), filter: keep}}
}

// Maybe is a value that may be absent.
type Maybe[A any] struct {
	// Value is the value, if OK.
	Value A
	// OK reports whether Value is present.
	OK bool
}

// Some returns a present Maybe.
func Some[A any](v A) Maybe[A] { return Maybe[A]{v, true} }

// ReceiveTimeout waits at most d for a message of type M; OK is false if
// the time ran out first. It is a Race of Receive and Sleep.
func ReceiveTimeout[M any](d time.Duration) Eff[Maybe[M]] {
	return Race(
		Map(Receive[M](), Some[M]),
		As(Sleep(d), Maybe[M]{}),
	)
}

// SelfOp yields the ID of the running task.
type SelfOp struct{ Returns[string] }

// Self yields the running task's own address, typed with the messages it
// accepts.
func Self[M any]() Eff[PID[M]] {
	return Map(Eff[string]{SelfOp{}}, func(id string) PID[M] { return PID[M]{id} })
}

// Program is a named, versioned program that tasks run: a function from an
// input to an effect tree. Register programs with the interpreter (or the
// task registry) so that tasks can be started, spawned and resumed by name.
type Program[I, O any] struct {
	// Name identifies the program in registries and stored tasks.
	Name string
	// Version tells the program's versions apart; a task stays on the
	// version it started on.
	Version int
	// Body builds the program's effect tree from its input.
	Body func(in I) Eff[O]
}

// NewProgram returns a Program.
func NewProgram[I, O any](name string, version int, body func(in I) Eff[O]) *Program[I, O] {
	return &Program[I, O]{Name: name, Version: version, Body: body}
}

// AnyProgram is a Program whose input and output types are not known
// statically: what registries and interpreters hold.
type AnyProgram interface {
	// ProgramName is the program's Name.
	ProgramName() string
	// ProgramVersion is the program's Version.
	ProgramVersion() int
	// InputType and OutputType are I and O.
	InputType() reflect.Type
	OutputType() reflect.Type
	// Start returns a Machine running the program on input, which must be
	// an I (nil stands for the zero I).
	Start(input any) (*Machine, error)
}

// ProgramName returns p.Name.
func (p *Program[I, O]) ProgramName() string { return p.Name }

// ProgramVersion returns p.Version.
func (p *Program[I, O]) ProgramVersion() int { return p.Version }

// InputType returns I.
func (p *Program[I, O]) InputType() reflect.Type { return reflect.TypeFor[I]() }

// OutputType returns O.
func (p *Program[I, O]) OutputType() reflect.Type { return reflect.TypeFor[O]() }

// Start returns a Machine running the program on input.
func (p *Program[I, O]) Start(input any) (*Machine, error) {
	var in I
	if input != nil {
		v, ok := input.(I)
		if !ok {
			return nil, inputError(p, input)
		}
		in = v
	}
	if p.Body == nil {
		return nil, fmt.Errorf("effect: program %s v%d has no body", p.Name, p.Version)
	}
	return NewMachine(Suspend(func() Eff[O] { return p.Body(in) })), nil
}

// CheckInput reports whether input can start p, as p's Start checks it
// (nil stands for the zero input), without starting p: for an interpreter
// that stores a task to start later.
func CheckInput(p AnyProgram, input any) error {
	if input == nil {
		return nil
	}
	want, got := p.InputType(), reflect.TypeOf(input)
	if got == want || want.Kind() == reflect.Interface && got.Implements(want) {
		return nil
	}
	return inputError(p, input)
}

func inputError(p AnyProgram, input any) error {
	return fmt.Errorf("effect: program %s v%d takes %v, got %T", p.ProgramName(), p.ProgramVersion(), p.InputType(), input)
}

// String returns "name@vN".
func (p *Program[I, O]) String() string { return fmt.Sprintf("%s@v%d", p.Name, p.Version) }

// SpawnOp starts a new task running a program. It yields the new task's ID.
type SpawnOp struct {
	Returns[string]
	// Program and Version name the child's program, Input is its input.
	Program string
	// Version is the version the child runs; 0 (what Spawn gives) is the
	// program's current version when the child starts, as the
	// interpreter's resolver decides (task.Resolver).
	Version int `cbor:",omitempty"`
	Input   any
	prog    AnyProgram
}

// Program returns the program to run, if the op was built by Spawn (ops
// decoded from a journal carry only the name and version).
func (o SpawnOp) Prog() AnyProgram { return o.prog }

// Spawn starts a new task running p's program on in, and yields its
// address, typed with the messages the new task accepts. The child runs
// the program's current version, like any new task (see
// interp.StartProgram): p itself when the interpreter knows no other.
// Which version that was is the child's own business, so a parent's
// journal does not change when its child's program does.
func Spawn[M, I, O any](p *Program[I, O], in I) Eff[PID[M]] {
	op := SpawnOp{Program: p.Name, Input: in, prog: p}
	return Map(Eff[string]{op}, func(id string) PID[M] { return PID[M]{id} })
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }
