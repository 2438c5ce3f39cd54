package task

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/amberrt/amber/effect"
)

// NewEntry builds the journal entry of op completed with result or err, as
// an interpreter records it: the op's kind, encoding and fingerprint, the
// encoded result (or the stored error, see EncodeError), and the time at.
func (r *Registry) NewEntry(seq uint64, fiber effect.FiberID, op, result any, err error, at time.Time) (Entry, error) {
	kind, data, fp, encErr := EncodeOp(op)
	if encErr != nil {
		return Entry{}, encErr
	}
	e := Entry{Seq: seq, Fiber: uint32(fiber), Kind: kind, Fingerprint: fp, Op: data, Time: at}
	if err != nil {
		e.Err = r.EncodeError(err)
		return e, nil
	}
	if e.Result, encErr = encMode.Marshal(result); encErr != nil {
		return Entry{}, fmt.Errorf("task: encode result of #%d %s: %w", seq, kind, encErr)
	}
	return e, nil
}

// DecodeResult decodes data, a recorded result of op, into a value of op's
// result type (see effect.ResultType), ready for Machine.Resume. Replay can
// avoid boxing the value with Machine.ResumeDecode and Unmarshal instead.
func DecodeResult(op any, data []byte) (any, error) {
	ptr := effect.NewResult(op)
	if ptr == nil {
		return nil, fmt.Errorf("task: decode result: %T is not an op", op)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("task: decode result of %s: %w", OpKind(op), &corruptError{errors.New("no result recorded")})
	}
	if err := unmarshal(decMode, data, ptr); err != nil {
		return nil, fmt.Errorf("task: decode result of %s: %w", OpKind(op), err)
	}
	return reflect.ValueOf(ptr).Elem().Interface(), nil
}

// Outcome returns what entry e delivers to the program that issued op: the
// decoded result, or the recorded error brought back with DecodeError.
func (r *Registry) Outcome(op any, e Entry) (any, error) {
	if e.Err != nil {
		return nil, r.DecodeError(e.Err)
	}
	v, err := DecodeResult(op, e.Result)
	if err != nil {
		return nil, fmt.Errorf("task: entry #%d: %w", e.Seq, err)
	}
	return v, nil
}

// MessageName returns the name under which t is registered as a message
// type: what envelopes and Wait.Types hold.
func (r *Registry) MessageName(t reflect.Type) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	name, ok := r.msgByType[t]
	return name, ok
}

// MessageType returns the message type registered under name.
func (r *Registry) MessageType(name string) (reflect.Type, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.msgByName[name]
	return t, ok
}
