package task

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/amberrt/amber/internal/codec"
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
	// flat ops have only string, bool and integer fields: codec.AppendFlat.
	flat   bool
	fields []codec.FlatField
}

// opInfos caches opInfo by type. It is copied on write: op types are few
// and are all seen early, and a read of a plain map is the fastest lookup.
// The key is the type word of the interface value (see codec.TypeWord), which
// hashes far faster than a reflect.Type.
var (
	opInfos   atomic.Pointer[map[unsafe.Pointer]*opInfo]
	opInfosMu sync.Mutex
)

// emptyMap is the encoding of a struct with no encoded fields.
var emptyMap = []byte{0xa0}

// infoOf returns the cached info of op's type; op is not nil.
func infoOf(op any) *opInfo {
	w := codec.TypeWord(op)
	if m := opInfos.Load(); m != nil {
		if info, ok := (*m)[w]; ok {
			return info
		}
	}
	return addInfo(w, reflect.TypeOf(op))
}

func addInfo(w unsafe.Pointer, t reflect.Type) *opInfo {
	opInfosMu.Lock()
	defer opInfosMu.Unlock()
	old := opInfos.Load()
	if old != nil {
		if info, ok := (*old)[w]; ok {
			return info
		}
	}
	kind := t.String()
	info := &opInfo{kind: kind, seed: Fingerprint(kind, nil)}
	if t.Kind() == reflect.Struct && !codec.HasEncodedFields(t, 0) {
		info.fieldless = true
		info.fp = Fingerprint(kind, emptyMap)
	} else {
		info.fields, info.flat = codec.FlatFields(t)
	}
	var m map[unsafe.Pointer]*opInfo
	if old != nil {
		m = maps.Clone(*old)
	} else {
		m = make(map[unsafe.Pointer]*opInfo)
	}
	m[w] = info
	opInfos.Store(&m)
	return info
}

// OpKind returns the kind of an op: the string of its Go type, such as
// "effect.NowOp", "main.GetUser" or "effect.ReadStateOp[int]". The kind
// names the op in journals; renaming an op type (or its package) changes it.
func OpKind(op any) string {
	if op == nil {
		return "<nil>"
	}
	return infoOf(op).kind
}

// EncodeOp returns op's kind, the canonical CBOR encoding of its exported
// fields, and its fingerprint, Fingerprint(kind, data). Two ops have the same
// fingerprint when they have the same type and equal exported fields; the
// unexported fields (filters, STM vars, transaction functions) are not part of
// an op's identity.
//
// Per-type work is done once and cached. An op without encoded fields
// (NowOp, RandomOp, SelfOp) is not encoded at all, and an op whose exported
// fields are all strings, bools and integers (SleepOp, ReceiveOp, a GetUser
// with an ID) is encoded without the general encoder; either way the only
// allocation is data, which the caller owns. To compare an op with a journal
// entry without keeping data, use OpFingerprint.
func EncodeOp(op any) (kind string, data []byte, fingerprint uint64, err error) {
	if op == nil {
		return "", nil, 0, fmt.Errorf("task: encode op: nil op")
	}
	info := infoOf(op)
	if info.fieldless {
		return info.kind, bytes.Clone(emptyMap), info.fp, nil
	}
	if info.flat {
		var stack [128]byte
		if b, ok := codec.AppendFlat(stack[:0], codec.DataWord(op), info.fields); ok {
			data = bytes.Clone(b)
			return info.kind, data, hashMore(info.seed, data), nil
		}
	}
	data, err = encMode.Marshal(op)
	if err != nil {
		return info.kind, nil, 0, fmt.Errorf("task: encode op %s: %w", info.kind, err)
	}
	return info.kind, data, hashMore(info.seed, data), nil
}

// OpFingerprint returns op's kind and fingerprint, the same as EncodeOp's,
// without keeping the encoding: what replay needs to compare an issued op with
// a journal entry. It does not allocate for fieldless ops nor for ops whose
// exported fields are all strings, bools and integers.
func OpFingerprint(op any) (kind string, fingerprint uint64, err error) {
	if op == nil {
		return "", 0, fmt.Errorf("task: encode op: nil op")
	}
	info := infoOf(op)
	switch {
	case info.fieldless:
		return info.kind, info.fp, nil
	case info.flat:
		var stack [128]byte
		if b, ok := codec.AppendFlat(stack[:0], codec.DataWord(op), info.fields); ok {
			return info.kind, hashMore(info.seed, b), nil
		}
	}
	data, err := encMode.Marshal(op)
	if err != nil {
		return info.kind, 0, fmt.Errorf("task: encode op %s: %w", info.kind, err)
	}
	return info.kind, hashMore(info.seed, data), nil
}
