package task

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/amberrt/amber/internal/codec"
	"github.com/fxamacker/cbor/v2"
)

// Entry is one completed op in a task's journal: what was asked (the op's
// kind, fingerprint and encoding) and what came back (a result or an error).
//
// Entries encode as CBOR maps with small integer keys (see the package
// documentation, section Format).
type Entry struct {
	// Seq numbers the entries of a journal 1, 2, 3, ... without gaps, in the
	// order the results were delivered to the program.
	Seq uint64 `cbor:"1,keyasint"`
	// Fiber is the effect.FiberID of the fiber that issued the op.
	Fiber uint32 `cbor:"2,keyasint,omitempty"`
	// Kind is OpKind of the op, for example "effect.NowOp".
	Kind string `cbor:"3,keyasint"`
	// Fingerprint is Fingerprint(Kind, Op): what replay compares.
	Fingerprint uint64 `cbor:"4,keyasint"`
	// Op is the op's canonical encoding, from EncodeOp: kept so that a
	// divergence can be shown, not only detected.
	Op cbor.RawMessage `cbor:"5,keyasint,omitempty"`
	// Result is the encoding of the op's result; nil if Err is not nil.
	Result cbor.RawMessage `cbor:"6,keyasint,omitempty"`
	// Err is the op's failure, nil if it succeeded.
	Err *Error `cbor:"7,keyasint,omitempty"`
	// Time is the interpreter's clock when the result was recorded (UTC).
	Time time.Time `cbor:"8,keyasint,omitzero"`
}

// maxRender bounds each rendered value in Entry.String.
const maxRender = 120

// String renders e on one line for logs, divergence reports and the CLI:
//
//	#3 fiber 0 main.GetUser {"ID": "7"} -> {"Name": "Ann"}
//	#4 fiber 1 main.Charge {"Cents": 500} -> error main.ErrDeclined: card declined
//
// Long values are truncated.
func (e Entry) String() string {
	var b strings.Builder
	b.WriteByte('#')
	b.WriteString(strconv.FormatUint(e.Seq, 10))
	b.WriteString(" fiber ")
	b.WriteString(strconv.FormatUint(uint64(e.Fiber), 10))
	b.WriteByte(' ')
	b.WriteString(e.Kind)
	if len(e.Op) > 0 && !(len(e.Op) == 1 && e.Op[0] == 0xa0) {
		b.WriteByte(' ')
		b.WriteString(short(Render(e.Op), maxRender))
	}
	b.WriteString(" -> ")
	switch {
	case e.Err != nil:
		b.WriteString("error ")
		b.WriteString(short(e.Err.String(), maxRender))
	case len(e.Result) == 0:
		b.WriteString("<no result>")
	default:
		b.WriteString(short(Render(e.Result), maxRender))
	}
	return b.String()
}

// Journal is a task's entries in order. It is append-only: replay feeds
// entry i to the program as the outcome of its i-th completed op.
type Journal []Entry

// String renders j one entry per line (see Entry.String).
func (j Journal) String() string {
	var b strings.Builder
	for i, e := range j {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.String())
	}
	return b.String()
}

// ErrInvalidJournal is matched (with errors.Is) by the errors of
// Journal.Validate and Journal.Verify.
var ErrInvalidJournal = errors.New("task: invalid journal")

// JournalError reports the first bad entry of a journal.
type JournalError struct {
	Index int    // position in the journal, from 0; -1 for an entry alone
	Seq   uint64 // the entry's Seq
	Kind  string // the entry's Kind
	// Problem says what is wrong with the entry.
	Problem string
}

// Error names the entry and the problem.
func (e *JournalError) Error() string {
	kind := e.Kind
	if kind == "" {
		kind = "<no kind>"
	}
	if e.Index < 0 {
		return fmt.Sprintf("journal entry #%d %s: %s", e.Seq, kind, e.Problem)
	}
	return fmt.Sprintf("journal entry %d (#%d %s): %s", e.Index, e.Seq, kind, e.Problem)
}

// Is reports whether target is ErrInvalidJournal.
func (e *JournalError) Is(target error) bool { return target == ErrInvalidJournal }

// Validate checks the structure of j: sequence numbers 1..n without gaps or
// duplicates, a kind on every entry, and never both a result and an error.
// The error wraps a *JournalError that names the first bad entry.
func (j Journal) Validate() error {
	if err := j.validate(); err != nil {
		return fmt.Errorf("task: %w", err)
	}
	return nil
}

func (j Journal) validate() error {
	for i := range j {
		if err := j[i].check(i); err != nil {
			return err
		}
	}
	return nil
}

func (e *Entry) check(i int) error {
	want := uint64(i) + 1
	switch {
	case e.Seq < want:
		return e.bad(i, "sequence number %d repeats or goes back (want %d)", e.Seq, want)
	case e.Seq > want:
		return e.bad(i, "sequence number %d leaves a gap (want %d)", e.Seq, want)
	}
	return e.checkFields(i)
}

// checkFields checks what can be checked of an entry outside its journal.
func (e *Entry) checkFields(i int) error {
	switch {
	case e.Seq == 0:
		return e.bad(i, "sequence number 0 (they start at 1)")
	case e.Kind == "":
		return e.bad(i, "no op kind")
	case e.Err != nil && len(e.Result) > 0:
		return e.bad(i, "both a result and an error")
	case !inRange(e.Time):
		return e.bad(i, "time %v out of range (years 0 to 9999 UTC)", e.Time)
	}
	return nil
}

func (e *Entry) bad(i int, format string, args ...any) error {
	return &JournalError{Index: i, Seq: e.Seq, Kind: e.Kind, Problem: fmt.Sprintf(format, args...)}
}

// Verify is Validate, and also checks that each entry's fingerprint is that of
// its recorded op (for entries that carry the op): what a journal read back
// from storage must satisfy. Decoding calls it.
func (j Journal) Verify() error {
	if err := j.verify(); err != nil {
		return fmt.Errorf("task: %w", err)
	}
	return nil
}

func (j Journal) verify() error {
	for i := range j {
		e := &j[i]
		if err := e.check(i); err != nil {
			return err
		}
		if err := e.verify(i); err != nil {
			return err
		}
	}
	return nil
}

func (e *Entry) verify(i int) error {
	if len(e.Op) > 0 {
		if fp := Fingerprint(e.Kind, e.Op); fp != e.Fingerprint {
			return e.bad(i, "fingerprint %016x does not match its op (%016x)", e.Fingerprint, fp)
		}
	}
	return nil
}

// journalFormat is the version of the journal encoding.
const journalFormat = 1

type journalWire struct {
	Format  uint64  `cbor:"0,keyasint"`
	Entries Journal `cbor:"1,keyasint,omitempty"`
}

// EncodeJournal returns the deterministic encoding of j, after checking it
// with Validate.
func EncodeJournal(j Journal) ([]byte, error) {
	if err := j.validate(); err != nil {
		return nil, fmt.Errorf("task: encode journal: %w", err)
	}
	b, err := encMode.Marshal(journalWire{Format: journalFormat, Entries: j})
	if err != nil {
		return nil, fmt.Errorf("task: encode journal: %w", err)
	}
	return b, nil
}

// DecodeJournal decodes a journal written by EncodeJournal and checks it with
// Verify. Bad input gives an error (matching ErrCorrupt, ErrInvalidJournal or
// ErrFormat), never a panic.
func DecodeJournal(data []byte) (Journal, error) {
	var w journalWire
	if err := unmarshal(recordMode, data, &w); err != nil {
		return nil, fmt.Errorf("task: decode journal: %w", err)
	}
	if w.Format != journalFormat {
		return nil, fmt.Errorf("task: decode journal: %w", formatError(w.Format, journalFormat))
	}
	if err := w.Entries.verify(); err != nil {
		return nil, fmt.Errorf("task: decode journal: %w", err)
	}
	return w.Entries, nil
}

// EncodeEntry returns the deterministic encoding of one entry, for stores
// that append entries one by one. It checks what can be checked of an entry
// alone (a Seq of at least 1, a kind, not both a result and an error).
func EncodeEntry(e Entry) ([]byte, error) {
	if err := e.checkFields(-1); err != nil {
		return nil, fmt.Errorf("task: encode entry: %w", err)
	}
	b, err := encMode.Marshal(&e)
	if err != nil {
		return nil, fmt.Errorf("task: encode entry #%d %s: %w", e.Seq, e.Kind, err)
	}
	return b, nil
}

// DecodeEntry decodes one entry written by EncodeEntry and checks it, like
// DecodeJournal checks each entry (except for its place in a journal).
func DecodeEntry(data []byte) (Entry, error) {
	var e Entry
	if err := unmarshal(recordMode, data, &e); err != nil {
		return Entry{}, fmt.Errorf("task: decode entry: %w", err)
	}
	if err := e.normalize(); err != nil {
		return Entry{}, fmt.Errorf("task: decode entry: %w", &corruptError{err})
	}
	if err := e.checkFields(-1); err != nil {
		return Entry{}, fmt.Errorf("task: decode entry: %w", err)
	}
	if err := e.verify(-1); err != nil {
		return Entry{}, fmt.Errorf("task: decode entry: %w", err)
	}
	return e, nil
}

// normalize makes a decoded entry equal to what was encoded (times in UTC),
// and checks what the decoder does not (see codec.CheckRaw).
func (e *Entry) normalize() error {
	var err error
	if e.Time, err = utc(e.Time); err != nil {
		return err
	}
	if err := codec.CheckRaw(e.Op); err != nil {
		return fmt.Errorf("op: %w", err)
	}
	if err := codec.CheckRaw(e.Result); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	return nil
}

// utc returns t in UTC, or an error if t is out of the range that RFC 3339
// can express (years 0 to 9999), which the encoding could not give back.
func utc(t time.Time) (time.Time, error) {
	if t.IsZero() {
		return time.Time{}, nil
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, fmt.Errorf("time %v is out of range (years 0 to 9999 UTC)", t)
	}
	return t, nil
}

func inRange(t time.Time) bool {
	if t.IsZero() {
		return true
	}
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}

// UnmarshalCBOR decodes a CBOR array of entries. It grows the journal as
// entries actually decode instead of trusting the declared length, so a
// hostile length costs nothing.
func (j *Journal) UnmarshalCBOR(data []byte) error {
	n, rest, err := arrayHead(data)
	if err != nil {
		return err
	}
	if n == 0 {
		*j = nil
		return nil
	}
	out := make(Journal, 0, min(n, uint64(len(rest)/8)+1))
	for i := uint64(0); i < n; i++ {
		var e Entry
		rest, err = recordMode.UnmarshalFirst(rest, &e)
		if err != nil {
			return fmt.Errorf("journal entry %d: %s", i, strings.TrimPrefix(err.Error(), "cbor: "))
		}
		if err := e.normalize(); err != nil {
			return fmt.Errorf("journal entry %d: %w", i, err)
		}
		out = append(out, e)
	}
	if len(rest) != 0 {
		return errors.New("journal: bytes after the last entry")
	}
	*j = out
	return nil
}

// arrayHead reads the head of a definite-length CBOR array, or null (an
// empty array).
func arrayHead(data []byte) (n uint64, rest []byte, err error) {
	if len(data) > 0 && data[0] == 0xf6 { // null
		return 0, data[1:], nil
	}
	major, n, rest, err := codec.ItemHead(data)
	if err != nil {
		return 0, nil, err
	}
	if major != 4 {
		return 0, nil, fmt.Errorf("want an array of entries, got CBOR major type %d", major)
	}
	return n, rest, nil
}
