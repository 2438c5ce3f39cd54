package task

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// flatField is one encoded field of a flat op: see flatFields.
type flatField struct {
	index     int    // in the struct
	key       []byte // encoded map key
	kind      reflect.Kind
	omitEmpty bool
}

// flatFields returns the encoded fields of struct type t, sorted in Core
// Deterministic order, if every one of them is a string, a bool or an
// integer with no custom encoding, and nothing else about t needs the general
// encoder. Such ops (SleepOp, ReceiveOp, ReadStateOp, a user's GetUser) are
// encoded by EncodeOp without the general encoder; a test checks the bytes
// are the same.
func flatFields(t reflect.Type) ([]flatField, bool) {
	if t.Kind() != reflect.Struct || hasCustomEncoding(t) {
		return nil, false
	}
	var fields []flatField
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
			if f.Type.Kind() == reflect.Struct && !hasEncodedFields(f.Type, 0) {
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
			// otherwise (appendFlat reports which).
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
		ff := flatField{index: i, kind: f.Type.Kind()}
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
		k, err := encMode.Marshal(key)
		if err != nil {
			return nil, false
		}
		ff.key = k
		fields = append(fields, ff)
	}
	slices.SortFunc(fields, func(a, b flatField) int { return bytes.Compare(a.key, b.key) })
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

// flatCache holds flatFields of the types found in interface fields.
var flatCache sync.Map // reflect.Type -> flatTypeInfo

type flatTypeInfo struct {
	fields []flatField
	ok     bool
}

// flatOf is flatFields, cached, for the dynamic types of interface fields.
func flatOf(t reflect.Type) ([]flatField, bool) {
	if v, ok := flatCache.Load(t); ok {
		fi := v.(flatTypeInfo)
		return fi.fields, fi.ok
	}
	fields, ok := flatFields(t)
	flatCache.Store(t, flatTypeInfo{fields, ok})
	return fields, ok
}

// scalarOK caches whether a non-struct dynamic type encodes as its kind.
var scalarOK sync.Map // reflect.Type -> bool

// appendFlat appends the encoding of v, a struct value whose type has the
// given flat fields, to buf. It reports false if an interface field holds
// a value that is not flat: the caller then uses the general encoder.
func appendFlat(buf []byte, v reflect.Value, fields []flatField) ([]byte, bool) {
	buf = appendMapHead(buf, v, fields)
	for i := range fields {
		f := &fields[i]
		fv := v.Field(f.index)
		if f.omitEmpty && fv.IsZero() {
			continue
		}
		buf = append(buf, f.key...)
		if f.kind != reflect.Interface {
			buf = appendScalar(buf, fv)
			continue
		}
		var ok bool
		if buf, ok = appendAny(buf, fv); !ok {
			return buf, false
		}
	}
	return buf, true
}

// appendScalars is appendFlat for a struct held in an interface field:
// one level only, so that the encoders do not recurse (which would move
// the caller's stack buffer to the heap).
func appendScalars(buf []byte, v reflect.Value, fields []flatField) ([]byte, bool) {
	buf = appendMapHead(buf, v, fields)
	for i := range fields {
		f := &fields[i]
		fv := v.Field(f.index)
		if f.omitEmpty && fv.IsZero() {
			continue
		}
		if f.kind == reflect.Interface {
			return buf, false
		}
		buf = appendScalar(append(buf, f.key...), fv)
	}
	return buf, true
}

// appendMapHead appends the head of the map that encodes v: one entry per
// field, less the empty ones that are omitted.
func appendMapHead(buf []byte, v reflect.Value, fields []flatField) []byte {
	n := 0
	for i := range fields {
		if !fields[i].omitEmpty || !v.Field(fields[i].index).IsZero() {
			n++
		}
	}
	return appendHead(buf, 5, uint64(n))
}

// appendScalar appends v, a string, bool or integer.
func appendScalar(buf []byte, v reflect.Value) []byte {
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		return append(appendHead(buf, 3, uint64(len(s))), s...)
	case reflect.Bool:
		if v.Bool() {
			return append(buf, 0xf5)
		}
		return append(buf, 0xf4)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return appendInt(buf, v.Int())
	}
	return appendHead(buf, 0, v.Uint())
}

// appendAny appends the value an interface field holds, if it is flat: a
// string, bool or integer without custom encoding, or a struct of flat
// fields.
func appendAny(buf []byte, fv reflect.Value) ([]byte, bool) {
	if fv.IsNil() {
		return append(buf, 0xf6), true
	}
	e := fv.Elem()
	t := e.Type()
	switch e.Kind() {
	case reflect.Struct:
		fields, ok := flatOf(t)
		if !ok {
			return buf, false
		}
		return appendScalars(buf, e, fields)
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !plainScalar(t) {
			return buf, false
		}
		return appendScalar(buf, e), true
	}
	return buf, false
}

// plainScalar reports whether t, a string, bool or integer type, encodes
// as its kind: it has no custom encoding.
func plainScalar(t reflect.Type) bool {
	plain, known := scalarOK.Load(t)
	if !known {
		plain = !hasCustomEncoding(t)
		scalarOK.Store(t, plain)
	}
	return plain.(bool)
}

// appendHead appends the shortest head of a data item of major type major
// and argument n.
func appendHead(b []byte, major byte, n uint64) []byte {
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
