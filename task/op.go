package task

import (
	"encoding"
	"fmt"
	"reflect"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Fingerprint returns the fingerprint of an op of the given kind whose
// canonical encoding is data: the 64-bit FNV-1a hash of kind, a zero byte,
// and data. The zero byte keeps ("ab", "c") and ("a", "bc") apart.
func Fingerprint(kind string, data []byte) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(kind); i++ {
		h = (h ^ uint64(kind[i])) * fnvPrime
	}
	h *= fnvPrime // ^ 0 is a no-op
	return hashMore(h, data)
}

func hashMore(h uint64, data []byte) uint64 {
	for _, b := range data {
		h = (h ^ uint64(b)) * fnvPrime
	}
	return h
}

// opInfo is what EncodeOp computes once per op type.
type opInfo struct {
	kind string
	// seed is the fingerprint state after kind and the zero byte.
	seed uint64
	// fieldless ops (NowOp, RandomOp, SelfOp, ...) always encode to the
	// empty map: data and fp are fixed.
	fieldless bool
	fp        uint64
}

var opInfos sync.Map // reflect.Type -> *opInfo

// emptyMap is the encoding of a struct with no encoded fields. Its capacity
// equals its length, so an append to a returned slice copies it.
var emptyMap = []byte{0xa0}

func infoOf(t reflect.Type) *opInfo {
	if v, ok := opInfos.Load(t); ok {
		return v.(*opInfo)
	}
	kind := t.String()
	info := &opInfo{kind: kind, seed: Fingerprint(kind, nil)}
	if t.Kind() == reflect.Struct && !hasEncodedFields(t, 0) {
		info.fieldless = true
		info.fp = Fingerprint(kind, emptyMap)
	}
	v, _ := opInfos.LoadOrStore(t, info)
	return v.(*opInfo)
}

var (
	marshalerType       = reflect.TypeFor[cbor.Marshaler]()
	binaryMarshalerType = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// hasEncodedFields reports whether the CBOR encoder could write a field of
// struct type t: an exported field not tagged "-", or one promoted from an
// embedded struct. It answers true when unsure (a custom marshaler, deep
// embedding), which only costs the fast path.
func hasEncodedFields(t reflect.Type, depth int) bool {
	if depth > 8 {
		return true
	}
	for _, m := range []reflect.Type{marshalerType, binaryMarshalerType, textMarshalerType} {
		if reflect.PointerTo(t).Implements(m) {
			return true
		}
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Tag.Get("cbor") == "-" || (f.Tag.Get("cbor") == "" && f.Tag.Get("json") == "-") {
			continue
		}
		if f.Anonymous {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				return true
			}
			if ft.Kind() == reflect.Struct {
				if hasEncodedFields(ft, depth+1) {
					return true
				}
				continue
			}
		}
		if f.IsExported() {
			return true
		}
	}
	return false
}

// OpKind returns the kind of an op: the string of its Go type, such as
// "effect.NowOp", "main.GetUser" or "effect.ReadStateOp[int]". The kind
// names the op in journals; renaming an op type (or its package) changes it.
func OpKind(op any) string {
	t := reflect.TypeOf(op)
	if t == nil {
		return "<nil>"
	}
	return infoOf(t).kind
}

// EncodeOp returns op's kind, the canonical CBOR encoding of its exported
// fields, and its fingerprint, Fingerprint(kind, data). Two ops have the same
// fingerprint when they have the same type and equal exported fields; the
// unexported fields (filters, STM vars, transaction functions) are not part of
// an op's identity.
//
// Per-type work is done once and cached. For an op without encoded fields
// (NowOp, RandomOp, SelfOp) it does no encoding and does not allocate; data is
// then shared and must not be modified.
func EncodeOp(op any) (kind string, data []byte, fingerprint uint64, err error) {
	t := reflect.TypeOf(op)
	if t == nil {
		return "", nil, 0, fmt.Errorf("task: encode op: nil op")
	}
	info := infoOf(t)
	if info.fieldless {
		return info.kind, emptyMap, info.fp, nil
	}
	data, err = encMode.Marshal(op)
	if err != nil {
		return info.kind, nil, 0, fmt.Errorf("task: encode op %s: %w", info.kind, err)
	}
	return info.kind, data, hashMore(info.seed, data), nil
}
