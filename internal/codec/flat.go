package codec

import (
	"bytes"
	"encoding"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/fxamacker/cbor/v2"
)

// FlatField is one encoded field of a flat op: see FlatFields.
type FlatField struct {
	offset    uintptr // in the struct
	key       []byte  // encoded map key
	kind      reflect.Kind
	omitEmpty bool
}

// FlatFields returns the encoded fields of struct type t, sorted in Core
// Deterministic order, if every one of them is a string, a bool or an
// integer with no custom encoding, and nothing else about t needs the general
// encoder. Such ops (SleepOp, ReceiveOp, ReadStateOp, a user's GetUser) are
// encoded by EncodeOp without the general encoder; a test checks the bytes
// are the same.
func FlatFields(t reflect.Type) ([]FlatField, bool) {
	if t.Kind() != reflect.Struct || hasCustomEncoding(t) {
		return nil, false
	}
	var fields []FlatField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Name == "_" {
			return nil, false // toarray and other struct options
		}
		tag, hasTag := f.Tag.Lookup("cbor")
		if tag == "-" {
			continue
		}
		if _, ok := f.Tag.Lookup("json"); ok && !hasTag {
			return nil, false
		}
		if f.Anonymous {
			if f.Type.Kind() == reflect.Struct && !HasEncodedFields(f.Type, 0) {
				continue // the embedded Returns marker
			}
			return nil, false
		}
		if !f.IsExported() {
			continue
		}
		switch f.Type.Kind() {
		case reflect.String, reflect.Bool,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		case reflect.Interface:
			// A message or an input (SendOp.Msg, SpawnOp.Input): encoded
			// here when the value it holds is flat, by the general encoder
			// otherwise (AppendFlat reports which).
			if f.Type.NumMethod() != 0 {
				return nil, false
			}
		default:
			return nil, false
		}
		if hasCustomEncoding(f.Type) {
			return nil, false
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		ff := FlatField{offset: f.Offset, kind: f.Type.Kind()}
		var key any = name
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "":
			case "omitempty", "omitzero":
				ff.omitEmpty = true
			case "keyasint":
				n, ok := parseInt(name)
				if !ok {
					return nil, false
				}
				key = n
			default:
				return nil, false
			}
		}
		k, err := Enc.Marshal(key)
		if err != nil {
			return nil, false
		}
		ff.key = k
		fields = append(fields, ff)
	}
	slices.SortFunc(fields, func(a, b FlatField) int { return bytes.Compare(a.key, b.key) })
	for i := 1; i < len(fields); i++ {
		if bytes.Equal(fields[i-1].key, fields[i].key) {
			return nil, false // let the general encoder resolve the conflict
		}
	}
	return fields, true
}

func hasCustomEncoding(t reflect.Type) bool {
	for _, m := range []reflect.Type{marshalerType, binaryMarshalerType, textMarshalerType} {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return true
		}
	}
	return false
}

func parseInt(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// ValueInfo is what the fast encoders know of a dynamic type found in an
// interface (a message, an input, a result): whether it is flat, a struct
// of flat fields or a string, bool or integer that encodes as its kind.
type ValueInfo struct {
	// Kind is the type's kind.
	Kind reflect.Kind
	// Fields are the encoded fields of a struct type.
	Fields []FlatField
	// OK reports whether the type has a fast encoding.
	OK bool
}

// valueInfos caches ValueInfo by type word, copied on write like opInfos.
var (
	valueInfos   atomic.Pointer[map[unsafe.Pointer]*ValueInfo]
	valueInfosMu sync.Mutex
)

// ValueInfoOf returns the info of x's dynamic type; x is not nil.
func ValueInfoOf(x any) *ValueInfo {
	w := TypeWord(x)
	if m := valueInfos.Load(); m != nil {
		if info, ok := (*m)[w]; ok {
			return info
		}
	}
	valueInfosMu.Lock()
	defer valueInfosMu.Unlock()
	old := valueInfos.Load()
	if old != nil {
		if info, ok := (*old)[w]; ok {
			return info
		}
	}
	t := reflect.TypeOf(x)
	info := &ValueInfo{Kind: t.Kind()}
	switch t.Kind() {
	case reflect.Struct:
		info.Fields, info.OK = FlatFields(t)
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		info.OK = !hasCustomEncoding(t)
	}
	var m map[unsafe.Pointer]*ValueInfo
	if old != nil {
		m = maps.Clone(*old)
	} else {
		m = make(map[unsafe.Pointer]*ValueInfo)
	}
	m[w] = info
	valueInfos.Store(&m)
	return info
}

// DataWord returns the second word of an empty interface: for the types
// the fast encoders read (structs of flat fields, strings, bools and
// integers, none of them pointer-shaped), a pointer to the value. A
// struct is pointer-shaped only if its one field is, and a flat struct with
// one field has a string, bool, integer or interface field, or none that
// is encoded (and then no field is read).
func DataWord(v any) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1]
}

// AppendFlat appends the encoding of the struct at p, whose type has the
// given flat fields, to buf. It reports false if an interface field holds
// a value that is not flat: the caller then uses the general encoder.
func AppendFlat(buf []byte, p unsafe.Pointer, fields []FlatField) ([]byte, bool) {
	buf = appendMapHead(buf, p, fields)
	for i := range fields {
		f := &fields[i]
		fp := unsafe.Add(p, f.offset)
		if f.omitEmpty && isZero(fp, f.kind) {
			continue
		}
		buf = append(buf, f.key...)
		if f.kind != reflect.Interface {
			buf = AppendScalar(buf, fp, f.kind)
			continue
		}
		var ok bool
		if buf, ok = appendAny(buf, *(*any)(fp)); !ok {
			return buf, false
		}
	}
	return buf, true
}

// appendScalars is AppendFlat for a struct held in an interface field:
// one level only, so that the encoders do not recurse (which would move
// the caller's stack buffer to the heap).
func appendScalars(buf []byte, p unsafe.Pointer, fields []FlatField) ([]byte, bool) {
	buf = appendMapHead(buf, p, fields)
	for i := range fields {
		f := &fields[i]
		fp := unsafe.Add(p, f.offset)
		if f.omitEmpty && isZero(fp, f.kind) {
			continue
		}
		if f.kind == reflect.Interface {
			return buf, false
		}
		buf = AppendScalar(append(buf, f.key...), fp, f.kind)
	}
	return buf, true
}

// appendMapHead appends the head of the map that encodes the struct at p:
// one entry per field, less the empty ones that are omitted.
func appendMapHead(buf []byte, p unsafe.Pointer, fields []FlatField) []byte {
	n := 0
	for i := range fields {
		if !fields[i].omitEmpty || !isZero(unsafe.Add(p, fields[i].offset), fields[i].kind) {
			n++
		}
	}
	return AppendHead(buf, 5, uint64(n))
}

// isZero reports whether the value of kind k at p is its zero value (nil,
// for an interface).
func isZero(p unsafe.Pointer, k reflect.Kind) bool {
	switch k {
	case reflect.String:
		return len(*(*string)(p)) == 0
	case reflect.Bool:
		return !*(*bool)(p)
	case reflect.Interface:
		return *(*any)(p) == nil
	}
	return scalarBits(p, k) == 0
}

// scalarBits returns the integer of kind k at p, sign-extended to 64 bits
// for the signed kinds.
func scalarBits(p unsafe.Pointer, k reflect.Kind) uint64 {
	switch k {
	case reflect.Int:
		return uint64(*(*int)(p))
	case reflect.Int8:
		return uint64(*(*int8)(p))
	case reflect.Int16:
		return uint64(*(*int16)(p))
	case reflect.Int32:
		return uint64(*(*int32)(p))
	case reflect.Int64:
		return uint64(*(*int64)(p))
	case reflect.Uint:
		return uint64(*(*uint)(p))
	case reflect.Uint8:
		return uint64(*(*uint8)(p))
	case reflect.Uint16:
		return uint64(*(*uint16)(p))
	case reflect.Uint32:
		return uint64(*(*uint32)(p))
	}
	return *(*uint64)(p)
}

// AppendScalar appends the value of kind k at p: a string, bool or
// integer.
func AppendScalar(buf []byte, p unsafe.Pointer, k reflect.Kind) []byte {
	switch k {
	case reflect.String:
		s := *(*string)(p)
		return append(AppendHead(buf, 3, uint64(len(s))), s...)
	case reflect.Bool:
		if *(*bool)(p) {
			return append(buf, 0xf5)
		}
		return append(buf, 0xf4)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return AppendInt(buf, int64(scalarBits(p, k)))
	}
	return AppendHead(buf, 0, scalarBits(p, k))
}

// SameFlat reports whether the structs at a and b, of a type with the
// given flat fields, have equal encoded fields, so that they encode the
// same. It answers false when unsure: an interface field holding a value
// that is not flat.
func SameFlat(a, b unsafe.Pointer, fields []FlatField) bool {
	for i := range fields {
		f := &fields[i]
		if !sameAt(unsafe.Add(a, f.offset), unsafe.Add(b, f.offset), f.kind, true) {
			return false
		}
	}
	return true
}

// sameAt reports whether the values of kind k at a and b are equal; an
// interface's are compared if flat, to one level if deep.
func sameAt(a, b unsafe.Pointer, k reflect.Kind, deep bool) bool {
	switch k {
	case reflect.String:
		return *(*string)(a) == *(*string)(b)
	case reflect.Bool:
		return *(*bool)(a) == *(*bool)(b)
	case reflect.Interface:
		if !deep {
			return false
		}
		x, y := *(*any)(a), *(*any)(b)
		if x == nil || y == nil {
			return x == nil && y == nil
		}
		if TypeWord(x) != TypeWord(y) {
			return false
		}
		info := ValueInfoOf(x)
		if !info.OK {
			return false
		}
		if info.Kind != reflect.Struct {
			return sameAt(DataWord(x), DataWord(y), info.Kind, false)
		}
		pa, pb := DataWord(x), DataWord(y)
		for i := range info.Fields {
			f := &info.Fields[i]
			if !sameAt(unsafe.Add(pa, f.offset), unsafe.Add(pb, f.offset), f.kind, false) {
				return false
			}
		}
		return true
	}
	return scalarBits(a, k) == scalarBits(b, k)
}

// appendAny appends x, the value an interface field holds, if it is flat:
// nil, a string, bool or integer without custom encoding, or a struct of
// flat fields.
func appendAny(buf []byte, x any) ([]byte, bool) {
	if x == nil {
		return append(buf, 0xf6), true
	}
	info := ValueInfoOf(x)
	if !info.OK {
		return buf, false
	}
	if info.Kind == reflect.Struct {
		return appendScalars(buf, DataWord(x), info.Fields)
	}
	return AppendScalar(buf, DataWord(x), info.Kind), true
}

// AppendHead appends the shortest head of a data item of major type major
// and argument n.
func AppendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// TypeWord returns the type pointer of v's dynamic type: the first word of
// an empty interface. It is unique per type and lives as long as the program.
func TypeWord(v any) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[0]
}

var (
	marshalerType       = reflect.TypeFor[cbor.Marshaler]()
	binaryMarshalerType = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// HasEncodedFields reports whether the CBOR encoder could write a field of
// struct type t: an exported field not tagged "-", or one promoted from an
// embedded struct. It answers true when unsure (a custom marshaler, deep
// embedding), which only costs the fast path.
func HasEncodedFields(t reflect.Type, depth int) bool {
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
				if HasEncodedFields(ft, depth+1) {
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
