package inspect

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// taskView is what the task page shows.
type taskView struct {
	ID, Program, Status, Reason, Parent, Name string
	Version                                   int
	Final                                     bool
	Created, Updated                          time.Time
	Input, Result, Error                      string
	Waits                                     []string
	Mailbox                                   []messageView
	Relations                                 []relation
	// MigrateTo are the other versions of the task's program that the
	// server's registry has: the versions the task may be migrated to.
	MigrateTo []int

	Entries                     []entryView
	Total, From, To, Prev, Next int // journal paging: entries From+1..To of Total
	// Links through the journal and to the other time axis.
	FirstURL, PrevURL, NextURL, LastURL, AxisURL string
	Timeline                                     timeline
	SendForms                                    []sendForm
	WaitTypes                                    []string
	Problem                                      string // why part of the task could not be read
	// The row that could not be read, when the store gave its bytes: in
	// hex, and in CBOR diagnostic notation as far as it decodes.
	ProblemRow, ProblemHex, ProblemDiag string
	Summary                             *store.Summary
}

type messageView struct {
	Seq          uint64
	Type, Value  string
	Problem, Raw string
}

// relation is another task this one spawned, linked, monitored or
// killed (from its journal), or its parent.
type relation struct {
	Kind, ID string
	Seq      uint64
}

type entryView struct {
	Seq                       uint64
	Fiber                     uint32
	Time, Offset              string
	Kind, Class               string
	Op, Result, Error         string
	RawOp, RawResult, Problem string
}

type sendForm struct {
	Type   string
	Fields []field
}

// buildTask makes the view of a task; first is the index of the first
// journal entry to show (-1 for the last page), linear asks for a linear
// time axis.
func (s *Server) buildTask(rec *task.Record, msgs []store.Message, first int, linear bool, now time.Time) *taskView {
	v := &taskView{ID: rec.ID, Program: rec.Program, Version: rec.Version, Status: string(rec.Status), Reason: rec.Reason,
		Parent: rec.Parent, Name: rec.Name, Final: rec.Status.Final(), Created: rec.Created, Updated: rec.Updated,
		Input: task.Render(rec.Input), Total: len(rec.Journal)}
	for _, pv := range s.reg.Versions() {
		if pv.Program == rec.Program && pv.Version != rec.Version {
			v.MigrateTo = append(v.MigrateTo, pv.Version)
		}
	}
	if rec.Result != nil {
		v.Result = task.Render(rec.Result)
	}
	if rec.Err != nil {
		v.Error = rec.Err.String()
	}
	v.Waits = waitWords(rec.Wait, now)
	for _, m := range msgs {
		v.Mailbox = append(v.Mailbox, s.message(m))
	}
	if rec.Parent != "" {
		v.Relations = append(v.Relations, relation{Kind: "parent", ID: rec.Parent})
	}
	for _, e := range rec.Journal {
		if r, ok := relationOf(e); ok {
			v.Relations = append(v.Relations, r)
		}
	}

	// Journal paging.
	n := s.o.JournalPage
	if first < 0 || first >= len(rec.Journal) {
		first = max(0, (len(rec.Journal)-1)/n*n)
	}
	v.From, v.To = first, min(first+n, len(rec.Journal))
	v.Prev, v.Next = -1, -1
	if first > 0 {
		v.Prev = max(0, first-n)
	}
	if v.To < len(rec.Journal) {
		v.Next = v.To
	}
	v.FirstURL, v.PrevURL, v.NextURL, v.LastURL = journalURL(0, linear), journalURL(v.Prev, linear), journalURL(v.Next, linear), journalURL(-1, linear)
	v.AxisURL = journalURL(first, !linear)
	if v.Next < 0 {
		v.AxisURL = journalURL(-1, !linear)
	}
	starts := issueTimes(rec.Journal, rec.Created)
	var t0 time.Time
	if len(starts) > 0 {
		t0 = starts[0]
	}
	for i := v.From; i < v.To; i++ {
		v.Entries = append(v.Entries, entryOf(rec.Journal[i], t0))
	}
	var pending []task.OpState
	if rec.Wait != nil && v.Next < 0 {
		pending = rec.Wait.Ops
	}
	v.Timeline = layoutTimeline(rec.Journal, starts, v.From, v.To, pending, now, linear)

	if rec.Wait != nil && !v.Final {
		v.WaitTypes = rec.Wait.Types
		for _, name := range rec.Wait.Types {
			if t, ok := s.reg.MessageType(name); ok {
				v.SendForms = append(v.SendForms, sendForm{Type: name, Fields: formFields(t)})
			}
		}
	}
	return v
}

// journalURL links to the journal page starting at entry from (-1: the
// last page) with the time axis asked for.
func journalURL(from int, linear bool) string {
	q := url.Values{}
	if from >= 0 {
		q.Set("from", strconv.Itoa(from))
	}
	if linear {
		q.Set("axis", "linear")
	}
	return "?" + q.Encode()
}

// message shows a mailbox message decoded with the registry, or raw.
func (s *Server) message(m store.Message) messageView {
	mv := messageView{Seq: m.Seq, Type: m.Env.Type, Raw: task.Render(m.Env.Data)}
	val, err := s.reg.DecodeMessage(m.Env)
	switch {
	case errors.Is(err, task.ErrUnregisteredType):
		mv.Problem = "this binary does not register the type " + m.Env.Type + "; shown as raw CBOR"
	case err != nil:
		mv.Problem = err.Error() + "; raw bytes " + hex.EncodeToString(m.Env.Data)
	default:
		if b, err := json.Marshal(val); err == nil {
			mv.Value = string(b)
		} else {
			mv.Value = fmt.Sprintf("%+v", val)
		}
	}
	return mv
}

// relationOf reads a relation from a journal entry: the op's encoded
// fields (Spawn's result is the child's ID).
func relationOf(e task.Entry) (relation, bool) {
	var kind string
	switch e.Kind {
	case "effect.SpawnOp":
		var id string
		if e.Err != nil || task.Unmarshal(e.Result, &id) != nil {
			return relation{}, false
		}
		return relation{Kind: "child", ID: id, Seq: e.Seq}, true
	case "effect.LinkOp":
		kind = "link"
	case "effect.UnlinkOp":
		kind = "unlink"
	case "effect.MonitorOp":
		kind = "monitor"
	case "effect.KillOp":
		kind = "kill"
	default:
		return relation{}, false
	}
	var op struct{ ID string }
	if task.Unmarshal(e.Op, &op) != nil || op.ID == "" {
		return relation{}, false
	}
	return relation{Kind: kind, ID: op.ID, Seq: e.Seq}, true
}

const maxCell = 160

func entryOf(e task.Entry, t0 time.Time) entryView {
	ev := entryView{Seq: e.Seq, Fiber: e.Fiber, Kind: e.Kind, Class: opClass(e.Kind)}
	if !e.Time.IsZero() {
		ev.Time = e.Time.Format("15:04:05.000")
		if !t0.IsZero() {
			ev.Offset = "+" + shortDuration(e.Time.Sub(t0))
		}
	}
	if len(e.Op) > 0 {
		ev.RawOp = task.Render(e.Op)
		if ev.RawOp != "{}" {
			ev.Op = cut(ev.RawOp, maxCell)
		}
	}
	switch {
	case e.Err != nil:
		ev.Error = cut(e.Err.String(), maxCell)
		ev.RawResult = "error " + e.Err.String()
	case len(e.Result) > 0:
		ev.RawResult = task.Render(e.Result)
		ev.Result = cut(ev.RawResult, maxCell)
	}
	for _, b := range [][]byte{e.Op, e.Result} {
		if r := task.Render(b); len(b) > 0 && strings.HasPrefix(r, "<") {
			ev.Problem = r + "; raw bytes " + hex.EncodeToString(b)
		}
	}
	return ev
}

// hexDump shows bytes 32 to a line, at most 64 lines.
func hexDump(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i += 32 {
		if i == 64*32 {
			fmt.Fprintf(&sb, "… %d more bytes", len(b)-i)
			break
		}
		fmt.Fprintf(&sb, "%04x  %s\n", i, hex.EncodeToString(b[i:min(i+32, len(b))]))
	}
	return sb.String()
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// WaitSummary says in a few words what a task waits for, for a list:
// "receive shop.Order|shop.Cancel until 2026-05-01T10:00:00Z". reason
// (a parked task's) stands in for a missing wait. The task list of the
// inspector and of the CLI show it.
func WaitSummary(w *task.Wait, reason string) string {
	if w == nil {
		return reason
	}
	s := w.Kind
	if len(w.Types) > 0 {
		s += " " + strings.Join(w.Types, "|")
	}
	if w.Detail != "" {
		s += " " + w.Detail
	}
	if !w.Until.IsZero() {
		s += " until " + w.Until.Format(time.RFC3339)
	}
	return s
}

// waitWords says, in words, what a task waits for.
func waitWords(w *task.Wait, now time.Time) []string {
	if w == nil {
		return nil
	}
	at := func(t time.Time) string { return t.Format(time.RFC3339) + " (" + relTime(t, now) + ")" }
	var out []string
	switch w.Kind {
	case task.WaitReceive:
		s := "a message of type " + strings.Join(w.Types, " or ")
		if len(w.Types) == 0 {
			s = "a message"
		}
		if !w.Until.IsZero() {
			s += ", or a timeout at " + at(w.Until)
		}
		out = append(out, s)
	case task.WaitSleep:
		s := "a timer"
		if !w.Until.IsZero() {
			s += " firing at " + at(w.Until)
		}
		out = append(out, s)
	case task.WaitActivity:
		out = append(out, "the activity "+w.Detail+" to complete")
	case task.WaitSTM:
		s := "an STM retry: a change to a var its transaction read"
		if w.Detail != "" {
			s += " (" + w.Detail + ")"
		}
		out = append(out, s)
	case task.WaitJoin:
		out = append(out, "other fibers or tasks to finish")
	case "":
	default:
		out = append(out, strings.TrimSpace(w.Kind+" "+w.Detail))
	}
	for _, o := range w.Ops {
		switch o.Phase {
		case task.PhaseRunning:
			s := fmt.Sprintf("fiber %d: %s, attempt %d running", o.Fiber, o.Kind, o.Attempt)
			if !o.Started.IsZero() {
				s += ", first started " + relTime(o.Started, now)
			}
			if !o.Until.IsZero() {
				s += ", times out at " + at(o.Until)
			}
			out = append(out, s)
		case task.PhaseBackoff:
			out = append(out, fmt.Sprintf("fiber %d: %s, attempt %d failed; attempt %d at %s", o.Fiber, o.Kind, o.Attempt, o.Attempt+1, at(o.Until)))
		case task.PhaseTimer:
			out = append(out, fmt.Sprintf("fiber %d: %s, timer firing at %s", o.Fiber, o.Kind, at(o.Until)))
		default:
			out = append(out, fmt.Sprintf("fiber %d: %s %s", o.Fiber, o.Kind, o.Phase))
		}
	}
	return out
}

// relTime says "in 5s" or "5s ago".
func relTime(t, now time.Time) string {
	if t.After(now) {
		return "in " + shortDuration(t.Sub(now))
	}
	return shortDuration(now.Sub(t)) + " ago"
}
