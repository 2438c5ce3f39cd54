package task

import (
	"errors"
	"fmt"
	"strings"

	"github.com/amberrt/amber/internal/codec"
	"github.com/fxamacker/cbor/v2"
)

// The codec's modes and limits: one configuration for all of amber.
const maxNesting = codec.MaxNesting

var (
	encMode    = codec.Enc
	decMode    = codec.Dec
	recordMode = codec.Records
	diagMode   = codec.Diag
)

// ErrCorrupt is matched (with errors.Is) by every error that reports bytes
// that are not a valid encoding of the value asked for: truncated, corrupt or
// hostile CBOR, a value of the wrong type, a duplicate map key, a length over
// a limit.
var ErrCorrupt = errors.New("task: corrupt CBOR")

// problem is an error with a message of its own that matches a sentinel.
type problem struct {
	sentinel error
	msg      string
}

func (p *problem) Error() string        { return p.msg }
func (p *problem) Is(target error) bool { return target == p.sentinel }

func newProblem(sentinel error, format string, args ...any) error {
	return &problem{sentinel, fmt.Sprintf(format, args...)}
}

// corruptError wraps an error of the CBOR decoder.
type corruptError struct{ err error }

func (e *corruptError) Error() string {
	return "corrupt CBOR: " + wireNames.Replace(strings.TrimPrefix(e.err.Error(), "cbor: "))
}

func (e *corruptError) Unwrap() error { return e.err }
func (e *corruptError) Is(target error) bool {
	return target == ErrCorrupt
}

// wireNames hides the names of the internal wire types in decoder messages.
var wireNames = strings.NewReplacer("task.recordWire", "task.Record", "task.journalWire", "task.Journal")

// ErrUnstorable is matched by the error of encoding a value that could not
// be decoded back: nested deeper than codec.MaxNesting (64) levels of
// arrays, maps and tags, or an array or a map longer than the codec's
// limits. Such a value is refused when it is encoded, so that it never
// reaches a journal or a mailbox where it would fail its reader.
var ErrUnstorable = errors.New("task: the value cannot be stored")

// Marshal returns the deterministic CBOR encoding of v: equal values give
// equal bytes, whatever the order in which a map was filled. A time.Time is
// encoded in UTC with nanosecond precision; a zero time.Time is encoded as
// null. A value that Unmarshal would refuse (see ErrUnstorable) is refused.
func Marshal(v any) ([]byte, error) {
	if b, ok := codec.FastMarshal(v); ok {
		return b, nil
	}
	b, err := marshalValue(v)
	if err != nil {
		return nil, fmt.Errorf("task: encode %T: %w", v, err)
	}
	return b, nil
}

// marshalValue encodes a value with the codec, and refuses it if the
// decoder would.
func marshalValue(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, err
	}
	// A value nested deeper than the limit, or longer, takes more bytes
	// than that: most values need no walk.
	if len(b) > maxNesting {
		if err := codec.CheckDepth(b); err != nil {
			return nil, newProblem(ErrUnstorable, "the value cannot be stored: %v", err)
		}
	}
	return b, nil
}

// Unmarshal decodes data into v, which must be a non-nil pointer. It is safe
// on untrusted input: every failure, including bytes after the first item,
// is an error matching ErrCorrupt, never a panic.
func Unmarshal(data []byte, v any) error {
	if codec.FastUnmarshal(data, v) {
		return nil
	}
	if err := unmarshal(decMode, data, v); err != nil {
		return fmt.Errorf("task: decode %T: %w", v, err)
	}
	return nil
}

// unmarshal decodes with dm. It recovers from a panic in the decoder (or in
// an UnmarshalCBOR method of a user type) as a last resort.
func unmarshal(dm cbor.DecMode, data []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &corruptError{fmt.Errorf("decoder panicked: %v", p)}
		}
	}()
	if err := dm.Unmarshal(data, v); err != nil {
		var ie *cbor.InvalidUnmarshalError
		if errors.As(err, &ie) {
			return err // a programming error, not bad input
		}
		return &corruptError{err}
	}
	return nil
}

// Render returns CBOR data in diagnostic notation (RFC 8949 section 8), the
// JSON-like text that CBOR tools print: {"ID": "7"}, [1, 2], h'ff',
// 0("2024-05-01T10:00:00Z"). It never panics: for bytes that are not one
// well-formed CBOR item it returns a description of the problem in angle
// brackets.
func Render(data []byte) string {
	return render(data)
}

func render(data []byte) (s string) {
	defer func() {
		if p := recover(); p != nil {
			s = fmt.Sprintf("<unrenderable CBOR: %v>", p)
		}
	}()
	if len(data) == 0 {
		return "<empty>"
	}
	d, err := diagMode.Diagnose(data)
	if err != nil {
		return "<invalid CBOR: " + strings.TrimPrefix(err.Error(), "cbor: ") + ">"
	}
	return d
}

// short truncates s to about n bytes (on a rune boundary), marking the cut.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
