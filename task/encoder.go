package task

import (
	"bytes"
	"reflect"

	"github.com/amberrt/amber/internal/codec"
)

// An Encoder encodes the ops and results of one journal as EncodeOp and
// Marshal do, giving the same bytes, with less work: the encodings it can
// write without the general encoder (fieldless and flat ops; nil,
// integers, strings, booleans and flat structs as results) are carved from
// chunks it shares between them, instead of allocating each; and it
// remembers the last encoding and fingerprint of each of a few op types,
// so that an op equal to the last one of its type (a loop's Receive, its
// Send to the same peer) is neither hashed nor stored again: it gets the
// same slice. Every slice it returns has its capacity cut to its length,
// so that an append to one never writes into another; none may be written
// to. A chunk stays in memory as long as one of its slices does, which
// suits a journal, whose entries live as long as it does.
//
// The zero Encoder is ready to use. An Encoder is not safe for concurrent
// use.
type Encoder struct {
	chunk []byte
	last  [4]lastOp // by op type; replaced round robin
	next  int
}

// lastOp is the last encoding of an op type, and its fingerprint; op is
// the last op of a flat type, which encoded to data.
type lastOp struct {
	info *opInfo
	op   any
	data []byte
	fp   uint64
}

// Chunk sizes: a chunk is twice its predecessor, so that a short journal
// wastes little and a long one allocates rarely.
const (
	minChunk = 256
	maxChunk = 8 << 10
	// maxCarve is the largest encoding carved from a chunk; a longer one is
	// allocated alone.
	maxCarve = 512
)

// keep returns a copy of b that the caller owns, carved from a chunk.
func (e *Encoder) keep(b []byte) []byte {
	n := len(b)
	if n > maxCarve {
		return append([]byte(nil), b...)
	}
	if cap(e.chunk)-len(e.chunk) < n {
		size := min(max(2*cap(e.chunk), minChunk), maxChunk)
		e.chunk = make([]byte, 0, size)
	}
	start := len(e.chunk)
	e.chunk = append(e.chunk, b...)
	return e.chunk[start:len(e.chunk):len(e.chunk)]
}

// EncodeOp is EncodeOp, the data carved from the Encoder's chunks when op
// has a fast encoding.
func (e *Encoder) EncodeOp(op any) (kind string, data []byte, fingerprint uint64, err error) {
	if op == nil {
		return EncodeOp(op)
	}
	info := infoOf(op)
	l := e.lastOf(info)
	if info.fieldless {
		if l.data == nil {
			l.data, l.fp = e.keep(emptyMap), info.fp
		}
		return info.kind, l.data, l.fp, nil
	}
	if info.flat {
		if l.op != nil && codec.SameFlat(codec.DataWord(l.op), codec.DataWord(op), info.fields) {
			return info.kind, l.data, l.fp, nil // its encoded fields are the last op's
		}
		var stack [128]byte
		if b, ok := codec.AppendFlat(stack[:0], codec.DataWord(op), info.fields); ok {
			if !bytes.Equal(l.data, b) {
				l.data, l.fp = e.keep(b), hashMore(info.seed, b)
			}
			l.op = op
			return info.kind, l.data, l.fp, nil
		}
	}
	return EncodeOp(op)
}

// lastOf returns the memory of op type info, taking the place of another
// type's if it has none.
func (e *Encoder) lastOf(info *opInfo) *lastOp {
	for i := range e.last {
		if e.last[i].info == info {
			return &e.last[i]
		}
	}
	l := &e.last[e.next]
	e.next = (e.next + 1) % len(e.last)
	*l = lastOp{info: info}
	return l
}

// Marshal is Marshal, the encoding carved from the Encoder's chunks when v
// has a fast encoding: nil, an integer, a string or a bool (of a named type
// too, without a custom encoding), the empty struct, or a struct whose
// encoded fields are all such values (see codec.FlatFields).
func (e *Encoder) Marshal(v any) ([]byte, error) {
	var stack [64]byte
	if b, ok := appendFast(stack[:0], v); ok {
		return e.keep(b), nil
	}
	return Marshal(v)
}

// appendFast appends the encoding of v to buf if it has a fast one.
func appendFast(buf []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(buf, 0xf6), true
	case struct{}:
		return append(buf, 0xa0), true
	case bool:
		if x {
			return append(buf, 0xf5), true
		}
		return append(buf, 0xf4), true
	case int:
		return codec.AppendInt(buf, int64(x)), true
	case int64:
		return codec.AppendInt(buf, x), true
	case uint64:
		return codec.AppendHead(buf, 0, x), true
	case string:
		return append(codec.AppendHead(buf, 3, uint64(len(x))), x...), true
	}
	info := codec.ValueInfoOf(v)
	if !info.OK {
		return buf, false
	}
	if info.Kind == reflect.Struct {
		return codec.AppendFlat(buf, codec.DataWord(v), info.Fields)
	}
	return codec.AppendScalar(buf, codec.DataWord(v), info.Kind), true
}
