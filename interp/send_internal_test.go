package interp

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// messages returns what t holds, in its mailbox and its inbox.
func messages(t *proc) []any {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append(append([]any(nil), t.mailbox...), t.inbox...)
}

// TestSendPeer checks the task a sender keeps as its peer: a task
// forgotten by the engine, whose ID then names another task, is not sent
// to again, and a finished one is dropped.
func TestSendPeer(t *testing.T) {
	e := NewMock().e
	newTask := func(id string) *proc {
		p, err := e.newTask(id, nil, nil, effect.NewMachine(effect.Receive[int]()))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	from, b1 := newTask("a"), newTask("b")
	if err := e.sendFrom(from, "b", 1, nil); err != nil {
		t.Fatal(err)
	}
	if from.peer != b1 {
		t.Fatalf("peer %v, want b1", from.peer)
	}
	e.forget(b1)
	b2 := newTask("b")
	if err := e.sendFrom(from, "b", 2, nil); err != nil {
		t.Fatal(err)
	}
	if got := messages(b1); len(got) != 1 || got[0] != 1 {
		t.Errorf("the forgotten task holds %v, want [1]", got)
	}
	if got := messages(b2); len(got) != 1 || got[0] != 2 {
		t.Errorf("the new task holds %v, want [2]", got)
	}
	if from.peer != b2 {
		t.Fatalf("peer %v, want b2", from.peer)
	}
	b2.mu.Lock()
	b2.finished = true
	b2.mu.Unlock()
	err := e.sendFrom(from, "b", 3, nil)
	if nt, ok := errors.AsType[*NoTaskError](err); !ok || !nt.Finished || nt.ID != "b" {
		t.Errorf("send to a finished task: %v", err)
	}
	if from.peer != nil {
		t.Errorf("a finished peer is kept")
	}
	if err := e.sendFrom(from, "c", 4, nil); err == nil {
		t.Errorf("send to no task: no error")
	}
}

// TestSendStraightToMailbox checks that a message for a task that waits
// with nothing to take goes into its mailbox, in order after the messages
// there, and one for a task already scheduled into its inbox.
func TestSendStraightToMailbox(t *testing.T) {
	m := NewMock()
	h, err := Start(m, effect.ReceiveMatch(func(n int) bool { return n == 3 }))
	if err != nil {
		t.Fatal(err)
	}
	m.RunUntilIdle()
	p := h.t.(*proc)
	for n := range 2 {
		if err := m.Send(h.ID(), n); err != nil {
			t.Fatal(err)
		}
		m.RunUntilIdle()
	}
	p.mu.Lock()
	mailbox, inbox := len(p.mailbox), len(p.inbox)
	p.mu.Unlock()
	if mailbox != 2 || inbox != 0 {
		t.Fatalf("mailbox %d, inbox %d: want 2, 0", mailbox, inbox)
	}
	_ = m.Send(h.ID(), 2) // straight into the mailbox, and the task is scheduled
	_ = m.Send(h.ID(), 3) // into the inbox: the task is scheduled
	p.mu.Lock()
	mailbox, inbox = len(p.mailbox), len(p.inbox)
	p.mu.Unlock()
	if mailbox != 3 || inbox != 1 {
		t.Fatalf("mailbox %d, inbox %d: want 3, 1", mailbox, inbox)
	}
	m.RunUntilIdle()
	if got := messages(p); len(got) != 3 || got[0] != 0 || got[1] != 1 || got[2] != 2 {
		t.Errorf("left %v, want [0 1 2]", got)
	}
	if v, err := h.Wait(t.Context()); err != nil || v != 3 {
		t.Errorf("result %v, %v", v, err)
	}
}

// TestMessageDuringStep checks the hand-over at the end of a step: a
// message that arrives while its task is being stepped (here, one the task
// sends itself) goes into the inbox, and the step, which then leaves the
// task without mu, sees it and takes the task back to deliver it, instead
// of leaving it waiting with the message in its inbox.
func TestMessageDuringStep(t *testing.T) {
	m := NewMock()
	prog := effect.Then(effect.Self[int](), func(self effect.PID[int]) effect.Eff[int] {
		return effect.Seq(effect.Send(self, 7), effect.Receive[int]())
	})
	h, err := Start(m, prog)
	if err != nil {
		t.Fatal(err)
	}
	p := h.t.(*proc)
	if n := m.RunUntilIdle(); n != 1 {
		t.Errorf("%d activations, want 1 (the step takes the task back)", n)
	}
	v, err, done := p.outcome()
	if !done || err != nil || v != 7 {
		t.Fatalf("outcome %v, %v, finished %v: want 7", v, err, done)
	}
	if s := p.st.Load(); s&stIdle == 0 {
		t.Errorf("the finished task is still scheduled (state %#x)", s)
	}
}

// recPing is the message of the Record tests: N from the task From.
type recPing struct {
	From string
	N    int
}

// recRegistry registers ponger and recPing, for Record.
func recRegistry(t *testing.T, ponger *effect.Program[effect.Unit, effect.Unit]) *task.Registry {
	r := task.NewRegistry()
	if err := task.Register(r, ponger); err != nil {
		t.Fatal(err)
	}
	if err := task.RegisterMessage[recPing](r, "interp.recPing"); err != nil {
		t.Fatal(err)
	}
	return r
}

// newPonger returns a program that answers each recPing with its N.
func newPonger() *effect.Program[effect.Unit, effect.Unit] {
	var loop effect.Eff[effect.Unit]
	again := func(effect.Unit) effect.Eff[effect.Unit] { return loop }
	loop = effect.Then(effect.Receive[recPing](), func(p recPing) effect.Eff[effect.Unit] {
		return effect.Then(effect.Send(effect.PID[int]{ID: p.From}, p.N), again)
	})
	return effect.NewProgram("ponger", 1, func(effect.Unit) effect.Eff[effect.Unit] { return loop })
}

// TestRecordWhileMessaged takes Records of a live task while another task
// messages it. Live's senders write a waiting task's mailbox without its
// mutex (deliver's fast path), so a snapshot must hold the task's schedule
// (Live.hold): every Record sees the mailbox between steps, with at most
// the one message in flight, and under -race a snapshot that read the
// mailbox while a sender wrote it would fail the test.
func TestRecordWhileMessaged(t *testing.T) {
	ponger := newPonger()
	l := NewLive(WithRegistry(recRegistry(t, ponger)), WithLogger(slog.New(slog.DiscardHandler)))
	defer l.Close()
	pt, err := StartProgram(l, ponger, effect.Unit{})
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 2000
	var loop func(self string, i int) effect.Eff[int]
	loop = func(self string, i int) effect.Eff[int] {
		if i == rounds {
			return effect.Pure(i)
		}
		round := effect.Seq(effect.Send(effect.PID[recPing]{ID: pt.ID()}, recPing{self, i}), effect.Receive[int]())
		return effect.Then(round, func(int) effect.Eff[int] { return loop(self, i+1) })
	}
	pinger, err := Start(l, effect.Then(effect.Self[int](), func(self effect.PID[int]) effect.Eff[int] {
		return loop(self.ID, 0)
	}))
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	for {
		_, _, done := pinger.Result()
		rec, err := pt.Record()
		if err != nil {
			t.Fatalf("record %d: %v", records, err)
		}
		records++
		if len(rec.Mailbox) > 1 {
			t.Fatalf("record %d: %d messages in the mailbox, want at most the one in flight", records, len(rec.Mailbox))
		}
		if done {
			break
		}
	}
	if v, err := pinger.Wait(t.Context()); err != nil || v != rounds {
		t.Errorf("pinger: %v, %v; want %d", v, err, rounds)
	}
}

// TestRecordAfterClose takes the Record of a live task woken after Close:
// it waits in the queue that no worker takes from any more, and hold,
// which waits for a task's schedule, must not wait for it.
func TestRecordAfterClose(t *testing.T) {
	ponger := newPonger()
	l := NewLive(WithRegistry(recRegistry(t, ponger)), WithLogger(slog.New(slog.DiscardHandler)))
	pt, err := StartProgram(l, ponger, effect.Unit{})
	if err != nil {
		t.Fatal(err)
	}
	l.WaitIdle()
	l.Close()
	if err := l.Send(pt.ID(), recPing{"nobody", 1}); err != nil {
		t.Fatal(err)
	}
	if s := pt.t.(*proc).st.Load(); s&stIdle != 0 {
		t.Fatalf("state %#x: the message did not wake the task", s)
	}
	rec, err := pt.Record()
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Mailbox) != 1 {
		t.Errorf("%d messages in the mailbox, want 1", len(rec.Mailbox))
	}
}
