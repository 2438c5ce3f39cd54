package codec

import (
	"encoding/binary"
	"math"
	"time"
	"unicode/utf8"
)

// FastUnmarshal decodes the commonest results of ops (integers, strings,
// booleans, times, the empty struct) without the reflective decoder: a
// replay decodes one result per journal entry. It handles only single,
// minimally encoded items; anything else returns false and goes to the
// general decoder, which decides what is valid.
func FastUnmarshal(data []byte, v any) bool {
	switch p := v.(type) {
	case *int:
		n, ok := fastInt(data)
		if ok {
			*p = int(n)
		}
		return ok
	case *int64:
		n, ok := fastInt(data)
		if ok {
			*p = n
		}
		return ok
	case *uint64:
		major, arg, n, ok := head(data)
		if !ok || major != 0 || n != len(data) {
			return false
		}
		*p = arg
		return true
	case *bool:
		if len(data) != 1 || data[0] != 0xf4 && data[0] != 0xf5 {
			return false
		}
		*p = data[0] == 0xf5
		return true
	case *string:
		s, ok := fastText(data)
		if ok {
			*p = s
		}
		return ok
	case *struct{}:
		return len(data) == 1 && data[0] == 0xa0
	case *time.Time:
		if len(data) < 2 || data[0] != 0xc0 {
			return false
		}
		s, ok := fastText(data[1:])
		if !ok {
			return false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || t.Year() < 0 || t.Year() > 9999 {
			return false
		}
		*p = t.UTC()
		return true
	}
	return false
}

func fastInt(data []byte) (int64, bool) {
	major, arg, n, ok := head(data)
	if !ok || n != len(data) || arg > math.MaxInt64 {
		return 0, false
	}
	switch major {
	case 0:
		return int64(arg), true
	case 1:
		return -1 - int64(arg), true
	}
	return 0, false
}

func fastText(data []byte) (string, bool) {
	major, arg, n, ok := head(data)
	if !ok || major != 3 || uint64(len(data)-n) != arg {
		return "", false
	}
	b := data[n:]
	if !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

// head parses a minimally encoded CBOR head: the major type, its argument
// and the head's length.
func head(data []byte) (major byte, arg uint64, n int, ok bool) {
	if len(data) == 0 {
		return 0, 0, 0, false
	}
	major, ai := data[0]>>5, data[0]&31
	switch {
	case ai < 24:
		return major, uint64(ai), 1, true
	case ai == 24 && len(data) >= 2 && data[1] >= 24:
		return major, uint64(data[1]), 2, true
	case ai == 25 && len(data) >= 3:
		a := uint64(binary.BigEndian.Uint16(data[1:]))
		return major, a, 3, a > 0xff
	case ai == 26 && len(data) >= 5:
		a := uint64(binary.BigEndian.Uint32(data[1:]))
		return major, a, 5, a > 0xffff
	case ai == 27 && len(data) >= 9:
		a := binary.BigEndian.Uint64(data[1:])
		return major, a, 9, a > 0xffffffff
	}
	return 0, 0, 0, false
}

// FastMarshal encodes the commonest results of ops (nothing, integers,
// strings, booleans, the empty struct) without the reflective encoder,
// giving the general encoder's bytes (a rapid test checks it).
func FastMarshal(v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return []byte{0xf6}, true
	case struct{}:
		return []byte{0xa0}, true
	case bool:
		if x {
			return []byte{0xf5}, true
		}
		return []byte{0xf4}, true
	case int:
		return AppendInt(make([]byte, 0, 9), int64(x)), true
	case int64:
		return AppendInt(make([]byte, 0, 9), x), true
	case uint64:
		return AppendHead(make([]byte, 0, 9), 0, x), true
	case string:
		b := AppendHead(make([]byte, 0, 9+len(x)), 3, uint64(len(x)))
		return append(b, x...), true
	}
	return nil, false
}

// AppendInt appends the CBOR encoding of x (major type 0 or 1) to b.
func AppendInt(b []byte, x int64) []byte {
	if x >= 0 {
		return AppendHead(b, 0, uint64(x))
	}
	return AppendHead(b, 1, uint64(-(x + 1)))
}
