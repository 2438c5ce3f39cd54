package task

import (
	"errors"
	"fmt"
)

// SignalType is the envelope type of an exit signal in a mailbox. It is
// reserved: it names no registered message type, and Registry.DecodeMessage
// does not decode it (use DecodeSignal).
const SignalType = "amber.signal"

// SignalKind says what an exit signal is.
type SignalKind uint8

// The kinds of exit signals.
const (
	// SignalLink: a task linked to the receiver ended.
	SignalLink SignalKind = iota + 1
	// SignalDown: a task the receiver monitors ended (Ref names the monitor).
	SignalDown
	// SignalKill: a task asked for the receiver to end (effect.Kill).
	SignalKill
)

// Signal is an exit signal as a durable mailbox stores it: what a store
// delivers to the tasks linked to, or monitoring, a task that ended, and
// what Kill sends. The receiving task turns it into an effect.Exit or
// effect.Down message, or ends by it, when it takes its mailbox.
type Signal struct {
	// Kind says whether it comes through a link, a monitor or a Kill.
	Kind SignalKind `cbor:"1,keyasint"`
	// From is the task that ended (or called Kill).
	From string `cbor:"2,keyasint"`
	// Reason is its exit reason.
	Reason string `cbor:"3,keyasint"`
	// Ref is the monitor a Down signal is for.
	Ref string `cbor:"4,keyasint,omitempty"`
}

// Tag names what a pending signal belongs to, so that a store can void it:
// an Unlink voids the link signals from its peer, a Demonitor the Down of
// its monitor. Kill signals have no tag; they are never voided.
func (s Signal) Tag() string {
	switch s.Kind {
	case SignalLink:
		return "link:" + s.From
	case SignalDown:
		return "down:" + s.Ref
	}
	return ""
}

// Envelope returns the signal as a mailbox entry.
func (s Signal) Envelope() (Envelope, error) {
	b, err := Marshal(s)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{Type: SignalType, Data: b}, nil
}

// Encode returns the signal as a mailbox row stores it: its envelope,
// encoded by EncodeEnvelope.
func (s Signal) Encode() ([]byte, error) {
	env, err := s.Envelope()
	if err != nil {
		return nil, err
	}
	return EncodeEnvelope(env)
}

// DecodeSignal decodes the data of an envelope of type SignalType. Malformed
// data, or a signal of an unknown kind or with no sender, gives an error
// matching ErrCorrupt.
func DecodeSignal(data []byte) (Signal, error) {
	var s Signal
	if err := Unmarshal(data, &s); err != nil {
		return Signal{}, fmt.Errorf("task: decode signal: %w", err)
	}
	if s.Kind < SignalLink || s.Kind > SignalKill || s.From == "" || (s.Kind == SignalDown) != (s.Ref != "") {
		return Signal{}, fmt.Errorf("task: decode signal: %w", &corruptError{errors.New("not a well-formed exit signal")})
	}
	return s, nil
}
