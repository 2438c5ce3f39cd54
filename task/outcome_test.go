package task_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

func TestEntryOutcome(t *testing.T) {
	r := registry(t)
	op := GetUser{ID: "7"}

	ok, err := r.NewEntry(1, 2, op, User{Name: "Ann"}, nil, t0)
	require.NoError(t, err)
	require.Equal(t, `#1 fiber 2 task_test.GetUser {"ID": "7"} -> {"Name": "Ann"}`, ok.String())
	require.Equal(t, t0, ok.Time)
	v, err := r.Outcome(op, ok)
	require.NoError(t, err)
	require.Equal(t, User{Name: "Ann"}, v)

	failed, err := r.NewEntry(2, 0, op, nil, fmt.Errorf("lookup: %w", ErrNotFound), t0)
	require.NoError(t, err)
	require.Nil(t, failed.Result)
	_, err = r.Outcome(op, failed)
	require.ErrorIs(t, err, ErrNotFound)
	require.EqualError(t, err, "lookup: user not found")

	require.NoError(t, task.Journal{ok, failed}.Verify())

	// A result that does not fit the op's result type.
	_, err = r.Outcome(effect.RandomOp{}, ok)
	require.ErrorIs(t, err, task.ErrCorrupt)
	require.ErrorContains(t, err, "task: entry #1: task: decode result of effect.RandomOp")
	_, err = task.DecodeResult(op, nil)
	require.ErrorContains(t, err, "no result recorded")
	_, err = task.DecodeResult("not an op", []byte{0})
	require.ErrorContains(t, err, "string is not an op")

	_, err = r.NewEntry(1, 0, effect.NowOp{}, func() {}, nil, t0)
	require.ErrorContains(t, err, "task: encode result of #1 effect.NowOp")
	_, err = r.NewEntry(1, 0, nil, 1, nil, t0)
	require.Error(t, err)
}

func TestMessageNames(t *testing.T) {
	r := registry(t)
	name, ok := r.MessageName(reflect.TypeFor[Order]())
	require.True(t, ok)
	require.Equal(t, "shop.Order", name)
	typ, ok := r.MessageType("shop.Order")
	require.True(t, ok)
	require.Equal(t, reflect.TypeFor[Order](), typ)
	_, ok = r.MessageType("nope")
	require.False(t, ok)
}
