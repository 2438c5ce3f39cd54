package task

import (
	"errors"

	"github.com/fxamacker/cbor/v2"
)

// Error is an error as a journal or a record stores it: the name under which
// its sentinel was registered (see RegisterError), and its message.
// Registry.DecodeError turns it back into an error that matches the sentinel.
type Error struct {
	// Type is the registered name of the first sentinel the error matched,
	// or "" if it matched none.
	Type string `cbor:"1,keyasint,omitempty"`
	// Msg is the error's message, err.Error().
	Msg string `cbor:"2,keyasint,omitempty"`
	// Data holds the fields of an error of a registered type (see
	// RegisterErrorType), when Type names one.
	Data cbor.RawMessage `cbor:"3,keyasint,omitempty"`
}

// Error returns e.Msg.
func (e *Error) Error() string {
	switch {
	case e.Msg != "":
		return e.Msg
	case e.Type != "":
		return e.Type
	}
	return "task: error without a message"
}

// String renders e for a journal: "Type: Msg", or just Msg if it has no type.
func (e *Error) String() string {
	if e.Type == "" {
		return e.Msg
	}
	return e.Type + ": " + e.Msg
}

// replayedError is an Error brought back to life by Registry.DecodeError.
type replayedError struct {
	e        Error
	sentinel error // the registered sentinel, or the decoded value of a registered type
}

func (r *replayedError) Error() string { return r.e.Error() }

// Unwrap returns the registered sentinel or the decoded error of a
// registered type, so errors.Is and errors.As see it.
func (r *replayedError) Unwrap() error { return r.sentinel }

// As lets errors.As find the stored form, a *Error.
func (r *replayedError) As(target any) bool {
	if p, ok := target.(**Error); ok {
		e := r.e
		*p = &e
		return true
	}
	return false
}

// stored returns the *Error that err carries, if it is one of ours.
func stored(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}
