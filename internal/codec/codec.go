// Package codec is the one CBOR configuration of amber: everything amber
// stores or sends (records, journals, inputs, results, messages, world
// vars) is encoded and decoded with these modes, so that a value means the
// same thing wherever it is written and read, and one nesting limit holds
// for encoding and decoding alike.
//
// It also holds the fast paths that the task package's codec and journal
// encoder take for the commonest values (integers, strings, booleans, times,
// flat structs of them), written with unsafe and checked against the general
// encoder by property tests, and the check of raw CBOR items that the decoder
// leaves unchecked: none of it is API, which is why it lives here.
package codec

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Limits. They bound the work and memory that bad input can cost: every
// declared length is checked against the bytes actually present before
// anything is allocated, so decoding never allocates much more than a small
// multiple of the input's size.
const (
	// MaxNesting bounds the depth of arrays, maps and tags of a value (an
	// input, a message, a result, a world var), on encode (a value nested
	// deeper is refused: see CheckDepth) and on decode.
	MaxNesting = 64
	// Wrapping is the depth that amber's stored forms add around a value:
	// a record holds a journal, which holds an entry, which holds a
	// result or an error's data. Records decodes with MaxNesting+Wrapping,
	// so that a value of the greatest depth allowed can always be stored.
	Wrapping = 4
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

	// Records decodes the stored forms that wrap values (records,
	// journals, entries, envelopes), whose arrays may be long.
	Records = mustDecMode(func() cbor.DecOptions {
		o := decOptions(MaxJournal)
		o.MaxNestedLevels = MaxNesting + Wrapping
		return o
	}())

	// Diag renders CBOR in diagnostic notation.
	Diag = func() cbor.DiagMode {
		dm, err := cbor.DiagOptions{
			MaxNestedLevels:  MaxNesting + Wrapping,
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

// CheckDepth reports an error if data, one encoded value, is not what Dec
// accepts: nested deeper than MaxNesting (the check it is named for), an
// array of more than MaxElements, a map of more than MaxPairs, or not well
// formed. Encoders call it on what Enc made, so that a value is refused
// when it is written, not when it is read: one limit for both.
func CheckDepth(data []byte) error {
	err := Dec.Wellformed(data)
	if err == nil {
		return nil
	}
	var (
		deep  *cbor.MaxNestedLevelError
		long  *cbor.MaxArrayElementsError
		large *cbor.MaxMapPairsError
	)
	switch {
	case errors.As(err, &deep):
		return fmt.Errorf("nested deeper than %d levels of arrays, maps and tags", MaxNesting)
	case errors.As(err, &long):
		return fmt.Errorf("an array of more than %d elements", MaxElements)
	case errors.As(err, &large):
		return fmt.Errorf("a map of more than %d pairs", MaxPairs)
	}
	return err
}
