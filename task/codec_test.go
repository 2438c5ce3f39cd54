package task_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

func TestMarshalDeterministic(t *testing.T) {
	// The same map filled in different orders, many times: one encoding.
	keys := []string{"zeta", "a", "mu", "bb", "c", "alpha", "ee", "d"}
	var first []byte
	for i := range 50 {
		m := make(map[string]int)
		for j := range keys {
			k := keys[(i+j)%len(keys)]
			m[k] = len(k)
		}
		b := marshal(t, m)
		if first == nil {
			first = b
		}
		require.Equal(t, first, b)
	}
	// Core Deterministic order: shorter keys first, then bytewise.
	require.Equal(t, `{"a": 1, "c": 1, "d": 1, "bb": 2, "ee": 2, "mu": 2, "zeta": 4, "alpha": 5}`, task.Render(first))

	// Shortest forms.
	require.Equal(t, []byte{0x18, 0x64}, marshal(t, 100))
	require.Equal(t, []byte{0xf9, 0x3e, 0x00}, marshal(t, 1.5))
}

func TestMarshalTime(t *testing.T) {
	local := time.FixedZone("CEST", 2*3600)
	tests := []time.Time{
		t0,
		time.Date(2024, 5, 1, 12, 0, 0, 1, local), // converted to UTC
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0).UTC(),
		{}, // zero: encoded as null
	}
	for _, want := range tests {
		b := marshal(t, want)
		var got time.Time
		require.NoError(t, task.Unmarshal(b, &got))
		require.True(t, want.Equal(got), "%v != %v", want, got)
		if !want.IsZero() {
			require.Equal(t, want.UTC(), got, "exact, in UTC")
		}
	}
	require.Equal(t, `0("2024-05-01T10:00:00.000000001Z")`, task.Render(marshal(t, time.Date(2024, 5, 1, 12, 0, 0, 1, local))))

	// A time inside an any comes back as a time.Time.
	var v any
	require.NoError(t, task.Unmarshal(marshal(t, []any{t0}), &v))
	require.Equal(t, []any{t0}, v)
}

func TestUnmarshalBadInput(t *testing.T) {
	var s string
	err := task.Unmarshal([]byte{0x62, 'a'}, &s)
	require.ErrorIs(t, err, task.ErrCorrupt)
	require.EqualError(t, err, "task: decode *string: corrupt CBOR: unexpected EOF")

	var m map[string]int
	err = task.Unmarshal([]byte{0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02}, &m)
	require.ErrorContains(t, err, "duplicate map key")

	var v any
	err = task.Unmarshal(append(bytes.Repeat([]byte{0x81}, 1000), 0), &v)
	require.ErrorContains(t, err, "exceeded max nested level")

	// Not a pointer: a programming error, reported as such.
	err = task.Unmarshal([]byte{0}, s)
	require.Error(t, err)
	require.NotErrorIs(t, err, task.ErrCorrupt)
}

func TestRender(t *testing.T) {
	tests := []struct {
		data []byte
		want string
	}{
		{marshal(t, map[string]any{"ID": "7"}), `{"ID": "7"}`},
		{marshal(t, []byte{1, 2}), `h'0102'`},
		{nil, "<empty>"},
		{[]byte{0x82, 0x01}, "<invalid CBOR: unexpected EOF>"},
		{[]byte{0x01, 0x02}, "<invalid CBOR: 1 bytes of extraneous data starting at index 1>"},
		{[]byte{0xff}, "<invalid CBOR: unexpected \"break\" code>"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, task.Render(tt.data))
	}
}
