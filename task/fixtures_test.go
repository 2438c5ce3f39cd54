package task_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// User, GetUser and ErrNotFound are a user's op, its result and its failure.
type User struct {
	Name string
	Tags map[string]int `cbor:",omitempty"`
}

type GetUser struct {
	effect.Returns[User]
	ID string
}

var ErrNotFound = errors.New("user not found")

// Order is a message type.
type Order struct {
	ID    string
	Cents int64
	At    time.Time
}

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC)

func greeter() *effect.Program[string, string] {
	return effect.NewProgram("greeter", 2, func(name string) effect.Eff[string] {
		return effect.Pure("hello " + name)
	})
}

func registry(t testing.TB) *task.Registry {
	t.Helper()
	r := task.NewRegistry()
	require.NoError(t, task.Register(r, greeter()))
	require.NoError(t, task.RegisterMessage[Order](r, "shop.Order"))
	require.NoError(t, task.RegisterError(r, "users.NotFound", ErrNotFound))
	return r
}

// entry builds a journal entry the way an interpreter does.
func entry(t testing.TB, seq uint64, fiber uint32, op any, result any, err *task.Error) task.Entry {
	t.Helper()
	kind, data, fp, encErr := task.EncodeOp(op)
	require.NoError(t, encErr)
	e := task.Entry{Seq: seq, Fiber: fiber, Kind: kind, Fingerprint: fp, Op: data, Err: err,
		Time: t0.Add(time.Duration(seq) * time.Millisecond)}
	if err == nil {
		e.Result = marshal(t, result)
	}
	return e
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := task.Marshal(v)
	require.NoError(t, err)
	return b
}

// sampleJournal has an entry of every shape.
func sampleJournal(t testing.TB) task.Journal {
	return task.Journal{
		entry(t, 1, 0, effect.NowOp{}, t0, nil),
		entry(t, 2, 0, effect.LogOp{Level: slog.LevelInfo, Msg: "start", Attrs: []effect.Attr{{Key: "n", Value: 3}}}, struct{}{}, nil),
		entry(t, 3, 1, GetUser{ID: "7"}, User{Name: "Ann", Tags: map[string]int{"b": 2, "a": 1}}, nil),
		entry(t, 4, 2, GetUser{ID: "8"}, nil, &task.Error{Type: "users.NotFound", Msg: "user 8: user not found"}),
		entry(t, 5, 0, effect.SleepOp{Duration: time.Second}, struct{}{}, nil),
		entry(t, 6, 0, effect.RandomOp{}, uint64(42), nil),
	}
}

func sampleRecord(t testing.TB) *task.Record {
	r := registry(t)
	env, err := r.EncodeMessage(Order{ID: "o1", Cents: 500, At: t0})
	require.NoError(t, err)
	return &task.Record{
		ID:      "t-1",
		Program: "greeter",
		Version: 2,
		Input:   marshal(t, "Ann"),
		Status:  task.Waiting,
		Journal: sampleJournal(t),
		Mailbox: []task.Envelope{env},
		Wait:    &task.Wait{Kind: task.WaitReceive, Until: t0.Add(time.Hour), Types: []string{"shop.Order"}},
		Parent:  "t-0",
		Created: t0,
		Updated: t0.Add(time.Second),
		Runs:    2,
		RunAt:   t0.Add(time.Hour),
	}
}
