package rand_test

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/codec"
	"github.com/amberrt/amber/internal/lives"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stdlib/rand"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Draws is what the test program makes.
type Draws struct {
	V4, V7, T4, T7 rand.UUID
	Die            int
	F              float64
	Perm           []int
}

var draws = effect.NewProgram("rand.draws", 1, func(n int) effect.Eff[Draws] {
	return effect.Do(func(e *effect.Ctx) Draws {
		var d Draws
		d.V4 = rand.UUIDv4(e)
		d.V7 = rand.UUIDv7(e)
		d.T4 = effect.Await(e, rand.NewUUIDv4())
		d.T7 = effect.Await(e, rand.NewUUIDv7())
		d.Die = rand.IntN(e, 6) + 1
		d.F = rand.Float64(e)
		d.Perm = effect.Await(e, rand.Draw(func(r *mrand.Rand) []int { return r.Perm(n) }))
		return d
	})
})

func TestLives(t *testing.T) {
	outs := lives.Check(t, lives.Case[int, Draws]{
		Program: draws, Input: 5,
		Varies: []string{"effect.RandomOp", "effect.NowOp"},
	})
	for _, o := range outs {
		d := o.Result
		require.NoError(t, o.Err, o.Life)
		for _, u := range []rand.UUID{d.V4, d.T4} {
			require.Equal(t, 4, u.Version(), o.Life)
			require.Equal(t, byte(0x80), u[8]&0xc0, "variant, %s", o.Life)
		}
		for _, u := range []rand.UUID{d.V7, d.T7} {
			require.Equal(t, 7, u.Version(), o.Life)
			require.Equal(t, byte(0x80), u[8]&0xc0, "variant, %s", o.Life)
		}
		require.GreaterOrEqual(t, d.Die, 1)
		require.LessOrEqual(t, d.Die, 6)
		require.ElementsMatch(t, []int{0, 1, 2, 3, 4}, d.Perm)
		// One Now per v7, two Random per UUID, one per IntN, Float64 and Draw.
		require.Len(t, o.Journal, 2+8+3, o.Life)
	}
}

func TestMockIsSeeded(t *testing.T) {
	run := func(seed uint64) Draws {
		tk, err := interp.StartProgram(interp.NewMock(interp.WithSeed(seed)), draws, 3, interp.WithID("t"))
		require.NoError(t, err)
		v, err := tk.Wait(context.Background())
		require.NoError(t, err)
		return v
	}
	require.Equal(t, run(1), run(1))
	require.NotEqual(t, run(1).V4, run(2).V4)
}

func TestV7Time(t *testing.T) {
	u, err := interp.Run(context.Background(), interp.NewMock(), rand.NewUUIDv7())
	require.NoError(t, err)
	// The mock's clock starts at 2000-01-01: 946684800000 ms.
	require.Equal(t, "00dc6acf-ac00-7", u.String()[:15])
}

func TestUUIDText(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var u rand.UUID
		copy(u[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(rt, "bytes"))
		p, err := rand.ParseUUID(u.String())
		if err != nil || p != u {
			rt.Fatalf("ParseUUID(%s) = %v, %v", u, p, err)
		}
		j, err := json.Marshal(u)
		if err != nil {
			rt.Fatal(err)
		}
		var back rand.UUID
		if err := json.Unmarshal(j, &back); err != nil || back != u {
			rt.Fatalf("JSON %s: %v, %v", j, back, err)
		}
		c, err := codec.Enc.Marshal(u)
		if err != nil {
			rt.Fatal(err)
		}
		var cb rand.UUID
		if err := codec.Dec.Unmarshal(c, &cb); err != nil || cb != u {
			rt.Fatalf("CBOR %x: %v, %v", c, cb, err)
		}
	})
	for _, bad := range []string{"", "not-a-uuid", "0191f6d5-8a3c-7b2e-9f4d-1c2b3a4d5e6g", "0191f6d58a3c-7b2e-9f4d-1c2b3a4d5e6f0"} {
		_, err := rand.ParseUUID(bad)
		require.ErrorIs(t, err, rand.ErrBadUUID, bad)
	}
}

func TestIntNBadBound(t *testing.T) {
	_, err := interp.Run(context.Background(), interp.NewMock(), effect.Do(func(e *effect.Ctx) int { return rand.IntN(e, 0) }))
	require.ErrorContains(t, err, "rand: IntN(0): n must be positive")
}

func FuzzParseUUID(f *testing.F) {
	f.Add("0191f6d5-8a3c-7b2e-9f4d-1c2b3a4d5e6f")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := rand.ParseUUID(s)
		if err == nil && u.String() != lower(s) {
			t.Fatalf("ParseUUID(%q) = %s", s, u)
		}
	})
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'F' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// A program draws a UUID and rolls a die; under the mock with a seed, a
// test sees the same values on every run, and a replay of the journal
// gives them back without drawing.
func Example() {
	p := effect.Do(func(e *effect.Ctx) string {
		id := rand.UUIDv4(e)
		return fmt.Sprintf("order %s rolled %d", id.String()[:8], rand.IntN(e, 6)+1)
	})
	mock := interp.NewMock(interp.WithSeed(42))
	prog := effect.NewProgram("example", 1, func(effect.Unit) effect.Eff[string] { return p })
	tk, _ := interp.StartProgram(mock, prog, effect.Unit{})
	got, _ := tk.Wait(context.Background())
	j, _ := tk.Journal()
	r, _ := interp.Replay(context.Background(), prog, effect.Unit{}, j)
	fmt.Println(got)
	fmt.Println(r.Result == got)
	// Output:
	// order 3c32b07f rolled 3
	// true
}
