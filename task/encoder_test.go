package task

import (
	"bytes"
	"testing"
	"time"

	"pgregory.net/rapid"
)

type encFlat struct {
	ID    string
	Cents int
	Ok    bool  `cbor:",omitempty"`
	N     int16 `cbor:"3,keyasint"`
	Msg   any
	Skip  int `cbor:"-"`
	x     int
	I8    int8   `cbor:",omitempty"`
	U16   uint16 `cbor:",omitempty"`
	U32   uint32 `cbor:",omitempty"`
	U     uint   `cbor:",omitempty"`
	I32   int32  `cbor:",omitempty"`
	I64   int64  `cbor:",omitempty"`
	U64   uint64 `cbor:",omitempty"`
	U8    uint8  `cbor:",omitempty"`
	Named encNamed
	Opt   any `cbor:",omitempty"`
}

type encEmpty struct{}

type encNamed int

type encNested struct{ Items []string }

type encCustom struct{ X int }

func (encCustom) MarshalCBOR() ([]byte, error) { return []byte{0x01}, nil }

type encOp struct {
	To  string
	Msg any
	D   time.Duration `cbor:",omitzero"`
}

// TestEncoderAgrees: an Encoder gives exactly the bytes of the general
// encoder, for results and for ops, and slices that do not overlap.
func TestEncoderAgrees(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		inner := []any{
			nil, rapid.String().Draw(t, "is"), rapid.Int().Draw(t, "ii"), encEmpty{},
			encNamed(rapid.Int().Draw(t, "in")), encNested{Items: []string{"a"}}, encCustom{}, 2.5,
		}
		vals := []any{
			nil, struct{}{}, rapid.Bool().Draw(t, "b"),
			rapid.Int().Draw(t, "i"), rapid.Int64().Draw(t, "i64"), rapid.Uint64().Draw(t, "u64"),
			int8(rapid.Int8().Draw(t, "i8")), uint32(rapid.Uint32().Draw(t, "u32")),
			rapid.String().Draw(t, "s"), "\xff\xfe" + rapid.String().Draw(t, "bad"),
			encNamed(rapid.Int().Draw(t, "n")), encEmpty{}, encCustom{X: 1}, encNested{Items: []string{"x"}},
			encFlat{
				ID: rapid.String().Draw(t, "id"), Cents: rapid.Int().Draw(t, "c"), Ok: rapid.Bool().Draw(t, "ok"),
				N: rapid.Int16().Draw(t, "N"), Msg: rapid.SampledFrom(inner).Draw(t, "msg"), Skip: 3, x: 4,
				I8: rapid.Int8().Draw(t, "I8"), U16: rapid.Uint16().Draw(t, "U16"), U32: rapid.Uint32().Draw(t, "U32"),
				U: rapid.Uint().Draw(t, "U"), I32: rapid.Int32().Draw(t, "I32"), I64: rapid.Int64().Draw(t, "I64"),
				U64: rapid.Uint64().Draw(t, "U64"), U8: rapid.Uint8().Draw(t, "U8"), Named: encNamed(rapid.Int().Draw(t, "Nm")),
				Opt: rapid.SampledFrom(inner).Draw(t, "opt"),
			},
			&encEmpty{}, []int{1}, 1.5, time.Unix(rapid.Int64Range(0, 1e10).Draw(t, "sec"), 0).UTC(),
			rapid.StringN(0, 2000, -1).Draw(t, "long"),
		}
		var enc Encoder
		var got [][]byte
		for _, v := range rapid.Permutation(vals).Draw(t, "order") {
			b, err := enc.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			want, err := encMode.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("%#v: encoder %x, general %x", v, b, want)
			}
			got = append(got, b)
			// The op, then ops like it (the Encoder remembers the last
			// one), each checked against the general encoder.
			op := encOp{To: rapid.String().Draw(t, "to"), Msg: v, D: time.Duration(rapid.IntRange(0, 2).Draw(t, "d"))}
			for range rapid.IntRange(1, 4).Draw(t, "ops") {
				switch rapid.IntRange(0, 3).Draw(t, "change") {
				case 1:
					op.Msg = rapid.SampledFrom(append(vals, inner...)).Draw(t, "msg2")
				case 2:
					op.D = time.Duration(rapid.IntRange(0, 2).Draw(t, "d2"))
				case 3:
					op.To = rapid.SampledFrom([]string{"", "a", op.To}).Draw(t, "to2")
				}
				kind, data, fp, err := enc.EncodeOp(op)
				if err != nil {
					t.Fatal(err)
				}
				want, err = encMode.Marshal(op)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, want) {
					t.Fatalf("%#v: encoder %x, general %x", op, data, want)
				}
				if kind != "task.encOp" || fp != Fingerprint(kind, want) {
					t.Fatalf("%#v: kind %s fingerprint %x", op, kind, fp)
				}
				got = append(got, data)
			}
		}
		// Every slice is its own: its capacity ends where it does.
		for _, b := range got {
			if cap(b) != len(b) {
				t.Fatalf("slice %x has capacity %d", b, cap(b))
			}
		}
		wants := make([][]byte, len(got))
		for i, b := range got {
			wants[i] = bytes.Clone(b)
			_ = append(b, 0xff)
		}
		for i := range got {
			if !bytes.Equal(got[i], wants[i]) {
				t.Fatalf("slice %d changed", i)
			}
		}
	})
}

func TestEncoderAllocations(t *testing.T) {
	var enc Encoder
	_, _ = enc.Marshal(0) // the first chunk
	for _, v := range []any{nil, 7, "seven", encNamed(7), encEmpty{}, encFlat{ID: "7", Msg: "x"}} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := enc.Marshal(v); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 0.1 {
			t.Errorf("%#v: %v allocations per Marshal", v, allocs)
		}
	}
}
