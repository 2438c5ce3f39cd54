package task

import (
	"errors"
	"fmt"

	"github.com/amberrt/amber/internal/codec"
	"github.com/fxamacker/cbor/v2"
)

// Envelope is a message as a mailbox stores it: the registered name of its
// type and its encoding.
type Envelope struct {
	// Type is the registered name of the message's type.
	Type string `cbor:"1,keyasint"`
	// Data is the message, encoded.
	Data cbor.RawMessage `cbor:"2,keyasint,omitempty"`
}

// String renders the envelope as Type(value), for logs and the CLI.
func (e Envelope) String() string {
	return e.Type + "(" + short(Render(e.Data), maxRender) + ")"
}

// EncodeEnvelope returns the stored form of a message, for a mailbox row.
// It refuses an envelope without a type, or whose data is not one value
// that a receiver could decode (see ErrUnstorable): a message that reaches
// a mailbox can be read.
func EncodeEnvelope(e Envelope) ([]byte, error) {
	switch {
	case e.Type == "":
		return nil, newProblem(ErrUnstorable, "task: encode envelope: no type")
	case len(e.Data) == 0:
		return nil, newProblem(ErrUnstorable, "task: encode envelope %s: no data", e.Type)
	}
	if err := codec.CheckDepth(e.Data); err != nil {
		return nil, fmt.Errorf("task: encode envelope %s: %w", e.Type, newProblem(ErrUnstorable, "the value cannot be stored: %v", err))
	}
	b, err := encMode.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("task: encode envelope %s: %w", e.Type, err)
	}
	return b, nil
}

// DecodeEnvelope decodes the stored form of a message, written by
// EncodeEnvelope. Bad input gives an error matching ErrCorrupt, never a
// panic. The message itself is decoded later, by Registry.DecodeMessage.
func DecodeEnvelope(data []byte) (Envelope, error) {
	var e Envelope
	if err := unmarshal(recordMode, data, &e); err != nil {
		return Envelope{}, fmt.Errorf("task: decode envelope: %w", err)
	}
	if e.Type == "" || len(e.Data) == 0 {
		return Envelope{}, fmt.Errorf("task: decode envelope: %w", &corruptError{errors.New("no type or no data")})
	}
	if err := codec.CheckRaw(e.Data); err != nil {
		return Envelope{}, fmt.Errorf("task: decode envelope %s: %w", e.Type, &corruptError{err})
	}
	return e, nil
}
