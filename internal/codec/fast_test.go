package codec

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestFastUnmarshalAgrees checks that the fast decoding path gives exactly
// what the general decoder gives, for encodings of random values and for
// random bytes.
func TestFastUnmarshalAgrees(t *testing.T) {
	check := func(t *rapid.T, data []byte, fast, slow any) {
		if !FastUnmarshal(data, fast) {
			return
		}
		if err := Dec.Unmarshal(data, slow); err != nil {
			t.Fatalf("fast path accepted %x, general decoder refused: %v", data, err)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		i := rapid.Int64Range(math.MinInt64, math.MaxInt64).Draw(t, "i")
		b, _ := Enc.Marshal(i)
		var f, s int64
		if !FastUnmarshal(b, &f) {
			t.Fatalf("fast path refused %x", b)
		}
		_ = Dec.Unmarshal(b, &s)
		if f != s || f != i {
			t.Fatalf("int %d: fast %d slow %d", i, f, s)
		}
		str := rapid.String().Draw(t, "s")
		b, _ = Enc.Marshal(str)
		var fs, ss string
		if !FastUnmarshal(b, &fs) || fs != str {
			t.Fatalf("string %q: fast %q", str, fs)
		}
		_ = Dec.Unmarshal(b, &ss)
		if ss != fs {
			t.Fatalf("string: slow %q fast %q", ss, fs)
		}
		tm := time.Unix(0, rapid.Int64Range(-1e18, 1e18).Draw(t, "ns")).UTC()
		b, _ = Enc.Marshal(tm)
		var ft, st time.Time
		if FastUnmarshal(b, &ft) {
			_ = Dec.Unmarshal(b, &st)
			if !ft.Equal(st) || ft != st {
				t.Fatalf("time %v: fast %v slow %v", tm, ft, st)
			}
		}
		raw := rapid.SliceOfN(rapid.Byte(), 0, 12).Draw(t, "raw")
		var a, a2 int
		check(t, raw, &a, &a2)
		var u, u2 uint64
		check(t, raw, &u, &u2)
		var x, x2 string
		check(t, raw, &x, &x2)
		var bo, bo2 bool
		check(t, raw, &bo, &bo2)
	})
}

// TestFastMarshalAgrees: the fast encoding path gives exactly the general
// encoder's bytes.
func TestFastMarshalAgrees(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		vals := []any{
			nil, struct{}{}, rapid.Bool().Draw(t, "b"),
			rapid.Int().Draw(t, "i"), rapid.Int64().Draw(t, "i64"), rapid.Uint64().Draw(t, "u64"),
			rapid.String().Draw(t, "s"), "\xff\xfe" + rapid.String().Draw(t, "bad"),
		}
		for _, v := range vals {
			fast, ok := FastMarshal(v)
			if !ok {
				t.Fatalf("fast path refused %#v", v)
			}
			slow, err := Enc.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(fast) != string(slow) {
				t.Fatalf("%#v: fast %x, general %x", v, fast, slow)
			}
		}
	})
}
