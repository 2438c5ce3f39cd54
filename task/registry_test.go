package task_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

func TestRegistryPrograms(t *testing.T) {
	r := task.NewRegistry()
	v1 := effect.NewProgram("billing", 1, func(int) effect.Eff[int] { return effect.Pure(1) })
	v3 := effect.NewProgram("billing", 3, func(int) effect.Eff[int] { return effect.Pure(3) })
	require.NoError(t, task.Register(r, v3))
	require.NoError(t, task.Register(r, v1))
	require.NoError(t, task.Register(r, greeter()))

	err := task.Register(r, v1)
	require.ErrorIs(t, err, task.ErrDuplicate)
	require.ErrorContains(t, err, `program "billing" version 1`)
	require.ErrorContains(t, task.Register[int, int](r, nil), "nil program")
	require.ErrorContains(t, task.Register(r, effect.NewProgram("", 1, func(int) effect.Eff[int] { return effect.Pure(0) })), "no name")

	p, err := r.Program("billing", 1)
	require.NoError(t, err)
	require.Same(t, v1, p)
	p, err = r.Latest("billing")
	require.NoError(t, err)
	require.Same(t, v3, p)

	_, err = r.Program("billing", 2)
	require.ErrorIs(t, err, task.ErrUnknownProgram)
	require.EqualError(t, err, `task: unknown program "billing" version 2`)
	_, err = r.Latest("nope")
	require.EqualError(t, err, `task: unknown program "nope"`)

	var names []string
	for _, p := range r.Programs() {
		names = append(names, fmt.Sprintf("%s@v%d", p.ProgramName(), p.ProgramVersion()))
	}
	require.Equal(t, []string{"billing@v1", "billing@v3", "greeter@v2"}, names)

	in, err := task.DecodeInput(v1, marshal(t, 7))
	require.NoError(t, err)
	require.Equal(t, 7, in)
	in, err = task.DecodeInput(v1, nil)
	require.NoError(t, err)
	require.Equal(t, 0, in)
	_, err = task.DecodeInput(v1, marshal(t, "seven"))
	require.ErrorIs(t, err, task.ErrCorrupt)
	require.ErrorContains(t, err, "task: decode input of billing v1 as int")
}

func TestRegistryMessages(t *testing.T) {
	r := registry(t)
	msg := Order{ID: "o1", Cents: 500, At: t0}
	env, err := r.EncodeMessage(msg)
	require.NoError(t, err)
	require.Equal(t, "shop.Order", env.Type)
	require.Equal(t, `shop.Order({"At": 0("2024-05-01T10:00:00.123456789Z"), "ID": "o1", "Cents": 500})`, env.String())
	got, err := r.DecodeMessage(env)
	require.NoError(t, err)
	require.Equal(t, msg, got)

	// Built-in types need no registration.
	env, err = r.EncodeMessage("ping")
	require.NoError(t, err)
	got, err = r.DecodeMessage(env)
	require.NoError(t, err)
	require.Equal(t, "ping", got)

	type Unknown struct{ X int }
	_, err = r.EncodeMessage(Unknown{})
	require.ErrorIs(t, err, task.ErrUnregisteredType)
	require.ErrorContains(t, err, "task_test.Unknown")
	_, err = r.EncodeMessage(nil)
	require.Error(t, err)

	require.ErrorIs(t, task.RegisterMessage[Order](r, "other"), task.ErrDuplicate)
	require.ErrorIs(t, task.RegisterMessage[Unknown](r, "shop.Order"), task.ErrDuplicate)
	require.ErrorContains(t, task.RegisterMessage[error](r, "err"), "interface type")
	require.NoError(t, task.RegisterMessage[Unknown](r, ""))
	env, err = r.EncodeMessage(Unknown{X: 1})
	require.NoError(t, err)
	require.Equal(t, "task_test.Unknown", env.Type)

	bad := []struct {
		name string
		env  task.Envelope
		is   error
		want string
	}{
		{"unknown type", task.Envelope{Type: "shop.Refund", Data: marshal(t, 1)}, task.ErrUnregisteredType, `no message type is registered as "shop.Refund"`},
		{"empty data", task.Envelope{Type: "shop.Order"}, task.ErrCorrupt, "empty data"},
		{"wrong shape", task.Envelope{Type: "shop.Order", Data: marshal(t, []int{1})}, task.ErrCorrupt, "task: decode message shop.Order: corrupt CBOR"},
		{"truncated", task.Envelope{Type: "shop.Order", Data: env.Data[:2]}, task.ErrCorrupt, "unexpected EOF"},
		{"garbage", task.Envelope{Type: "string", Data: []byte{0xff, 0xff}}, task.ErrCorrupt, ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			v, err := r.DecodeMessage(tt.env)
			require.Nil(t, v)
			require.ErrorIs(t, err, tt.is)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestRegistryErrors(t *testing.T) {
	r := registry(t)
	err := fmt.Errorf("user 8: %w", ErrNotFound)
	stored := r.EncodeError(err)
	require.Equal(t, &task.Error{Type: "users.NotFound", Msg: "user 8: user not found"}, stored)

	// Through the codec and back: errors.Is still holds.
	b := marshal(t, stored)
	var back *task.Error
	require.NoError(t, task.Unmarshal(b, &back))
	replayed := r.DecodeError(back)
	require.EqualError(t, replayed, "user 8: user not found")
	require.ErrorIs(t, replayed, ErrNotFound)
	var asStored *task.Error
	require.ErrorAs(t, replayed, &asStored)
	require.Equal(t, "users.NotFound", asStored.Type)

	// Re-encoding a replayed error gives the same stored form.
	require.Equal(t, stored, r.EncodeError(replayed))

	// Effect's and context's errors are known without registration.
	require.Equal(t, "effect.ErrCancelled", r.EncodeError(effect.ErrCancelled).Type)
	require.ErrorIs(t, r.DecodeError(r.EncodeError(context.DeadlineExceeded)), context.DeadlineExceeded)
	misuse := fmt.Errorf("%w: Call(x.Op)", effect.ErrWrongGoroutine)
	require.ErrorIs(t, r.DecodeError(r.EncodeError(misuse)), effect.ErrWrongGoroutine)
	require.ErrorIs(t, r.DecodeError(r.EncodeError(effect.ErrGoexit)), effect.ErrGoexit)

	// Unregistered errors keep their message only; a registry that does not
	// know the type name still gives the message.
	plain := r.EncodeError(errors.New("boom"))
	require.Equal(t, &task.Error{Msg: "boom"}, plain)
	require.EqualError(t, task.NewRegistry().DecodeError(stored), "user 8: user not found")
	require.NotErrorIs(t, task.NewRegistry().DecodeError(stored), ErrNotFound)

	require.Nil(t, r.EncodeError(nil))
	require.NoError(t, r.DecodeError(nil))
	require.ErrorIs(t, task.RegisterError(r, "users.NotFound", errors.New("x")), task.ErrDuplicate)
	require.Error(t, task.RegisterError(r, "", ErrNotFound))
}

func TestRegistryConcurrent(t *testing.T) {
	r := registry(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			p := effect.NewProgram(fmt.Sprintf("p%d", i), 1, func(int) effect.Eff[int] { return effect.Pure(0) })
			if err := task.Register(r, p); err != nil {
				t.Error(err)
			}
			for range 100 {
				env, err := r.EncodeMessage(Order{ID: "x"})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := r.DecodeMessage(env); err != nil {
					t.Error(err)
				}
				_ = r.Programs()
				_ = r.EncodeError(ErrNotFound)
			}
		})
	}
	wg.Wait()
	require.Len(t, r.Programs(), 9)
}

type quotaError struct {
	Limit int `cbor:"1,keyasint"`
}

func (e *quotaError) Error() string { return fmt.Sprintf("over quota %d", e.Limit) }

// TestRegisterErrorType: an error of a registered type comes back from
// storage as that type, with its fields, inside whatever wrapped it; its
// message is the original's.
func TestRegisterErrorType(t *testing.T) {
	r := task.NewRegistry()
	require.NoError(t, task.RegisterErrorType[*quotaError](r, "quota"))
	require.ErrorIs(t, task.RegisterErrorType[*quotaError](r, "quota2"), task.ErrDuplicate)
	require.ErrorIs(t, task.RegisterErrorType[*quotaError](r, "effect.ErrCancelled"), task.ErrDuplicate)

	orig := fmt.Errorf("charging: %w", &quotaError{Limit: 7})
	enc := r.EncodeError(orig)
	b, err := task.Marshal(enc)
	require.NoError(t, err)
	var back task.Error
	require.NoError(t, task.Unmarshal(b, &back))
	got := r.DecodeError(&back)
	require.EqualError(t, got, "charging: over quota 7")
	qe, ok := errors.AsType[*quotaError](got)
	require.True(t, ok, "errors.As finds the registered type after a round trip")
	require.Equal(t, 7, qe.Limit)

	// Another registry without the type keeps the message only.
	other := task.NewRegistry().DecodeError(&back)
	_, ok = errors.AsType[*quotaError](other)
	require.False(t, ok)
	require.EqualError(t, other, "charging: over quota 7")

	// Hostile data: no panic, message kept, no typed value.
	bad := r.DecodeError(&task.Error{Type: "quota", Msg: "m", Data: []byte{0xf6}}) // null
	_, ok = errors.AsType[*quotaError](bad)
	require.False(t, ok)
	bad = r.DecodeError(&task.Error{Type: "quota", Msg: "m", Data: []byte{0xff, 0x00}})
	require.EqualError(t, bad, "m")

	// The built-in types: a killed task's error, a panic (without its stack).
	ee := r.DecodeError(r.EncodeError(&effect.ExitError{Task: "a", From: "b", Reason: "shutdown"}))
	x, ok := errors.AsType[*effect.ExitError](ee)
	require.True(t, ok)
	require.Equal(t, effect.ExitError{Task: "a", From: "b", Reason: "shutdown"}, *x)
	pe := r.EncodeError(&effect.PanicError{Value: "boom", Stack: []byte("goroutine 1")})
	require.NotContains(t, string(pe.Data), "goroutine")
	p, ok := errors.AsType[*effect.PanicError](r.DecodeError(pe))
	require.True(t, ok)
	require.Equal(t, "boom", p.Value)
}
