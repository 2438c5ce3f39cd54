// Package codec is the one CBOR configuration of amber: everything amber
// stores or sends (records, journals, inputs, results, messages, world
// vars) is encoded and decoded with these modes, so that a value means the
// same thing wherever it is written and read, and one nesting limit holds
// for encoding and decoding alike.
package codec

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Limits. They bound the work and memory that bad input can cost: every
// declared length is checked against the bytes actually present before
// anything is allocated, so decoding never allocates much more than a small
// multiple of the input's size.
const (
	// MaxNesting bounds the depth of arrays, maps and tags, on encode (a
	// value nested deeper is refused) and on decode.
	MaxNesting = 64
	// MaxElements bounds the length of an array in a user value (a
	// message, an input, a result).
	MaxElements = 1 << 17
	// MaxPairs bounds the number of pairs in a map.
	MaxPairs = 1 << 17
	// MaxJournal bounds the number of entries in a journal (and of
	// messages in a mailbox).
	MaxJournal = 1 << 24
)

var (
	// Enc is Core Deterministic Encoding (RFC 8949 section 4.2.1), with
	// time.Time as tag 0 around an RFC 3339 string in UTC with
	// nanoseconds: exact, readable, and self-describing, so a time inside
	// an any decodes back to a time.Time.
	Enc = mustEncMode(func() cbor.EncOptions {
		o := cbor.CoreDetEncOptions()
		o.Time = cbor.TimeRFC3339NanoUTC
		o.TimeTag = cbor.EncTagRequired
		return o
	}())

	// Dec decodes user values: inputs, messages, results, world vars.
	Dec = mustDecMode(decOptions(MaxElements))

	// Records decodes records and journals, whose arrays may be long.
	Records = mustDecMode(decOptions(MaxJournal))

	// Diag renders CBOR in diagnostic notation.
	Diag = func() cbor.DiagMode {
		dm, err := cbor.DiagOptions{
			MaxNestedLevels:  MaxNesting,
			MaxArrayElements: MaxJournal,
			MaxMapPairs:      MaxPairs,
		}.DiagMode()
		if err != nil {
			panic(err)
		}
		return dm
	}()
)

func decOptions(arrays int) cbor.DecOptions {
	return cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxNestedLevels:   MaxNesting,
		MaxArrayElements:  arrays,
		MaxMapPairs:       MaxPairs,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		UTF8:              cbor.UTF8RejectInvalid,
		TimeTagToAny:      cbor.TimeTagToTime,
	}
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	em, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	dm, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}

// CheckDepth reports an error if data, one encoded item, nests arrays,
// maps and tags deeper than MaxNesting: what Enc produced but Dec would
// refuse.
func CheckDepth(data []byte) error {
	if err := Records.Wellformed(data); err != nil {
		return fmt.Errorf("codec: the value cannot be stored: %w", err)
	}
	return nil
}
