package task_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// A task is saved as a record and loaded in another process that registered
// the same program under the same name and version.
func Example() {
	greet := effect.NewProgram("greet", 1, func(name string) effect.Eff[string] {
		return effect.Then(effect.Now(), func(t time.Time) effect.Eff[string] {
			return effect.Pure("hello " + name + " at " + t.Format(time.Kitchen))
		})
	})
	reg := task.NewRegistry()
	if err := task.Register(reg, greet); err != nil {
		panic(err)
	}

	// What an interpreter saves after the program's first op.
	input, _ := task.Marshal("Ann")
	kind, op, fp, _ := task.EncodeOp(effect.NowOp{})
	now := time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)
	result, _ := task.Marshal(now)
	rec := &task.Record{
		ID: "t-1", Program: "greet", Version: 1, Input: input, Status: task.Running,
		Journal: task.Journal{{Seq: 1, Kind: kind, Fingerprint: fp, Op: op, Result: result, Time: now}},
	}
	data, err := task.EncodeRecord(rec)
	if err != nil {
		panic(err)
	}

	// What another process does to resume it.
	loaded, err := task.DecodeRecord(data)
	if err != nil {
		panic(err)
	}
	prog, err := reg.Resolve(loaded) // parks the task if this fails
	if err != nil {
		panic(err)
	}
	in, _ := task.DecodeInput(prog, loaded.Input)
	fmt.Printf("%s v%d on %q, %d bytes\n", prog.ProgramName(), prog.ProgramVersion(), in, len(data))
	fmt.Println(loaded.Journal)
	// Output:
	// greet v1 on "Ann", 108 bytes
	// #1 fiber 0 effect.NowOp -> 0("2024-05-01T09:30:00Z")
}

func ExampleEntry_String() {
	type GetUser struct {
		effect.Returns[string]
		ID string
	}
	kind, op, fp, _ := task.EncodeOp(GetUser{ID: "7"})
	result, _ := task.Marshal(map[string]string{"Name": "Ann"})
	e := task.Entry{Seq: 3, Kind: kind, Fingerprint: fp, Op: op, Result: result}
	fmt.Println(e)

	e.Result, e.Err = nil, &task.Error{Type: "users.NotFound", Msg: "user 7 not found"}
	fmt.Println(e)
	// Output:
	// #3 fiber 0 task_test.GetUser {"ID": "7"} -> {"Name": "Ann"}
	// #3 fiber 0 task_test.GetUser {"ID": "7"} -> error users.NotFound: user 7 not found
}

// Messages cross process boundaries in envelopes that name their type.
func ExampleRegistry_EncodeMessage() {
	type Deposit struct{ Cents int64 }
	reg := task.NewRegistry()
	_ = task.RegisterMessage[Deposit](reg, "bank.Deposit")

	env, _ := reg.EncodeMessage(Deposit{Cents: 500})
	fmt.Println(env)
	m, _ := reg.DecodeMessage(env)
	fmt.Printf("%#v\n", m.(Deposit).Cents)

	_, err := reg.EncodeMessage(struct{ X int }{})
	fmt.Println(errors.Is(err, task.ErrUnregisteredType))
	// Output:
	// bank.Deposit({"Cents": 500})
	// 500
	// true
}

// A failure recorded in a journal still matches its sentinel when replayed.
func ExampleRegistry_DecodeError() {
	errDeclined := errors.New("card declined")
	reg := task.NewRegistry()
	_ = task.RegisterError(reg, "pay.Declined", errDeclined)

	stored := reg.EncodeError(fmt.Errorf("charge 500: %w", errDeclined))
	fmt.Println(stored.String())
	replayed := reg.DecodeError(stored)
	fmt.Println(replayed, errors.Is(replayed, errDeclined))
	// Output:
	// pay.Declined: charge 500: card declined
	// charge 500: card declined true
}

func ExampleRender() {
	b, _ := task.Marshal(map[string]any{"b": []int{1, 2}, "a": true})
	fmt.Println(task.Render(b))
	fmt.Println(task.Render(b[:3]))
	// Output:
	// {"a": true, "b": [1, 2]}
	// <invalid CBOR: unexpected EOF>
}
