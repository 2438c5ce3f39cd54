package storetest

import (
	"bytes"
	"errors"

	"github.com/amberrt/amber/internal/codec"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// nestedEnvelope returns a message whose data nests arrays depth levels
// deep, encoded by hand (task.Marshal refuses what is too deep).
func nestedEnvelope(depth int) task.Envelope {
	var v any = 1
	for range depth - 1 {
		v = []any{v}
	}
	data, err := codec.Enc.Marshal([]any{v})
	if err != nil {
		panic(err)
	}
	return task.Envelope{Type: "storetest.Nest", Data: data}
}

// testMessageNesting: one nesting limit for what is written and what is
// read. A message as deep as a receiver can decode is stored and comes
// back whole; one level deeper is refused with task.ErrUnstorable by Send,
// Create and the step that sends it (alone: the other steps commit), so
// that it never reaches a mailbox.
func testMessageNesting(h *harness) {
	deepest, tooDeep := nestedEnvelope(codec.MaxNesting), nestedEnvelope(codec.MaxNesting+1)
	h.createIDs("a", "b", "c")
	h.send("a", deepest)
	ms, err := h.s.Messages(bg, "a", 0)
	if err != nil || len(ms) != 1 || ms[0].Env.Type != deepest.Type || !bytes.Equal(ms[0].Env.Data, deepest.Data) {
		h.t.Errorf("Messages after sending a message %d deep = %v, %v; want it back whole", codec.MaxNesting, ms, err)
	}
	if err := h.s.Send(bg, "a", tooDeep); !errors.Is(err, task.ErrUnstorable) {
		h.t.Errorf("Send of a message %d deep: %v, want task.ErrUnstorable", codec.MaxNesting+1, err)
	}
	r := NewRecord("d")
	r.Mailbox = []task.Envelope{tooDeep}
	if err := h.s.Create(bg, r); !errors.Is(err, task.ErrUnstorable) {
		h.t.Errorf("Create of a task with a message %d deep: %v, want task.ErrUnstorable", codec.MaxNesting+1, err)
	}
	ls := h.claim("w", 10, T0)
	var steps []store.Step
	for _, l := range ls {
		s := step("w", l, task.Waiting)
		s.Sends = []store.Outgoing{{To: "c", Env: deepest}}
		if l.ID == "a" {
			s.Sends = []store.Outgoing{{To: "c", Env: tooDeep}}
		}
		steps = append(steps, s)
	}
	errs, err := h.s.Commit(bg, steps)
	if err != nil {
		h.t.Fatalf("Commit: %v", err)
	}
	for i, s := range steps {
		if s.ID == "a" && !errors.Is(errs[i], task.ErrUnstorable) {
			h.t.Errorf("Commit of a step sending a message too deep: %v, want task.ErrUnstorable", errs[i])
		}
		if s.ID != "a" && errs[i] != nil {
			h.t.Errorf("Commit of %s beside a step sending a message too deep: %v", s.ID, errs[i])
		}
	}
	if ms, _ := h.s.Messages(bg, "c", 0); len(ms) != 2 {
		h.t.Errorf("c has %d messages, want the 2 of the good steps", len(ms))
	}
	if got, _ := h.s.Messages(bg, "a", 0); len(got) != 1 {
		h.t.Errorf("a has %d messages, want 1 (its refused step consumed nothing)", len(got))
	}
}
