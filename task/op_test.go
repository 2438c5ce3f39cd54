package task_test

import (
	"hash/fnv"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

func TestOpKind(t *testing.T) {
	tests := []struct {
		op   any
		want string
	}{
		{effect.NowOp{}, "effect.NowOp"},
		{GetUser{ID: "7"}, "task_test.GetUser"},
		{effect.ReadStateOp[int]{}, "effect.ReadStateOp[int]"},
		{effect.ReceiveOp[string]{}, "effect.ReceiveOp[string]"},
		{nil, "<nil>"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, task.OpKind(tt.op))
	}
}

func TestEncodeOp(t *testing.T) {
	tests := []struct {
		op   any
		kind string
		diag string
	}{
		{effect.NowOp{}, "effect.NowOp", `{}`},
		{effect.RandomOp{}, "effect.RandomOp", `{}`},
		{effect.SelfOp{}, "effect.SelfOp", `{}`},
		{effect.SleepOp{Duration: time.Second}, "effect.SleepOp", `{"Duration": 1000000000}`},
		{GetUser{ID: "7"}, "task_test.GetUser", `{"ID": "7"}`},
		{effect.SendOp{To: "t-2", Type: "task_test.Order", Msg: Order{ID: "o1"}}, "effect.SendOp",
			`{"To": "t-2", "Msg": {"At": null, "ID": "o1", "Cents": 0}, "Type": "task_test.Order"}`},
		{effect.AtomicallyOp[int]{}, "effect.AtomicallyOp[int]", `{}`},
		{effect.AtomicallyOp[int]{Label: "transfer"}, "effect.AtomicallyOp[int]", `{"Label": "transfer"}`},
	}
	for _, tt := range tests {
		kind, data, fp, err := task.EncodeOp(tt.op)
		require.NoError(t, err)
		require.Equal(t, tt.kind, kind)
		require.Equal(t, tt.diag, task.Render(data))
		require.Equal(t, task.Fingerprint(kind, data), fp)
	}

	_, _, _, err := task.EncodeOp(nil)
	require.ErrorContains(t, err, "nil op")
	_, _, _, err = task.EncodeOp(effect.SendOp{Msg: func() {}})
	require.ErrorContains(t, err, "task: encode op effect.SendOp")
}

// The fingerprint is the op's identity: exported fields count, unexported
// ones (STM vars, filters) do not, and neither does map order.
func TestFingerprintIdentity(t *testing.T) {
	fp := func(op any) uint64 {
		_, _, f, err := task.EncodeOp(op)
		require.NoError(t, err)
		return f
	}
	require.Equal(t, fp(GetUser{ID: "7"}), fp(GetUser{ID: "7"}))
	require.NotEqual(t, fp(GetUser{ID: "7"}), fp(GetUser{ID: "8"}))
	require.NotEqual(t, fp(effect.NowOp{}), fp(effect.RandomOp{}), "same data, different kind")

	// Two anonymous vars are read by equal ops: the var is not identity.
	require.Equal(t, fp(effect.ReadStateOp[int]{}), fp(effect.ReadStateOp[int]{Var: ""}))
	require.NotEqual(t, fp(effect.ReadStateOp[int]{Var: "x"}), fp(effect.ReadStateOp[int]{Var: "y"}))

	m1 := map[string]int{}
	m2 := map[string]int{}
	for i, k := range []string{"a", "b", "c", "d", "e", "f"} {
		m1[k] = i
	}
	for i, k := range []string{"f", "e", "d", "c", "b", "a"} {
		m2[k] = 5 - i
	}
	require.Equal(t, fp(effect.SendOp{Msg: m1}), fp(effect.SendOp{Msg: m2}))

	// The zero byte separates kind from data.
	require.NotEqual(t, task.Fingerprint("ab", []byte("c")), task.Fingerprint("a", []byte("bc")))
	// It is FNV-1a, as hash/fnv computes it.
	h := fnv.New64a()
	h.Write([]byte("effect.SleepOp\x00\xa1"))
	require.Equal(t, h.Sum64(), task.Fingerprint("effect.SleepOp", []byte{0xa1}))
}

func TestEncodeOpAllocations(t *testing.T) {
	for _, op := range []any{effect.NowOp{}, effect.SleepOp{Duration: 1}, GetUser{ID: "7"}} {
		allocs := testing.AllocsPerRun(100, func() {
			_, _, _, _ = task.EncodeOp(op)
		})
		require.LessOrEqual(t, allocs, 1.0, "%T: only the returned data", op)
		allocs = testing.AllocsPerRun(100, func() {
			_, _, _ = task.OpFingerprint(op)
		})
		require.Zero(t, allocs, "%T", op)
	}
}

func BenchmarkEncodeOp(b *testing.B) {
	ops := []struct {
		name string
		op   any
	}{
		{"Now", effect.NowOp{}},
		{"Sleep", effect.SleepOp{Duration: time.Second}},
		{"GetUser", GetUser{ID: "7"}},
		{"Receive", effect.ReceiveOp[Order]{Type: "task_test.Order"}},
		{"Log", effect.LogOp{Msg: "order accepted", Attrs: []effect.Attr{{Key: "id", Value: "o1"}}}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := task.EncodeOp(o.op); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestOpFingerprint(t *testing.T) {
	for _, op := range []any{
		effect.NowOp{}, effect.SleepOp{Duration: 3}, GetUser{ID: "x"},
		effect.LogOp{Msg: "m"}, effect.ReadStateOp[User]{Var: "users"},
	} {
		kind, _, fp, err := task.EncodeOp(op)
		require.NoError(t, err)
		k2, fp2, err := task.OpFingerprint(op)
		require.NoError(t, err)
		require.Equal(t, kind, k2)
		require.Equal(t, fp, fp2)
	}
}

func BenchmarkOpFingerprint(b *testing.B) {
	op := any(effect.SleepOp{Duration: time.Second})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := task.OpFingerprint(op); err != nil {
			b.Fatal(err)
		}
	}
}
