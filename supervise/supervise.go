// Package supervise restarts what crashed, the Erlang/OTP way, as an
// effect program. A supervisor is an ordinary amber task: it traps exits,
// spawns and links its children, and on each child's exit applies its
// strategy. Because it is a program, it runs under every interpreter, and
// its decisions are journaled like any other op.
//
// # Semantics
//
// The strategies follow OTP's supervisor:
//
//   - OneForOne: only the child that ended is restarted.
//   - OneForAll: all other children are terminated (in reverse start
//     order), then all are started again (in start order).
//   - RestForOne: the children started after the one that ended are
//     terminated (in reverse order), then it and they are started again
//     (in order).
//   - SimpleOneForOne: OneForOne over dynamic children, all started from
//     one template with StartChild.
//
// Restart types: Permanent children are always restarted; Transient ones
// only when they end abnormally (a reason other than "normal" or
// "shutdown"); Temporary ones never. More than Intensity restarts within
// Period make the supervisor terminate every child and fail with
// ErrIntensity, which propagates to a linked parent supervisor.
//
// Terminating a child: with Shutdown zero, it is killed at once
// (effect.ExitKill); otherwise it is sent a "shutdown" exit and given
// Shutdown to end, then killed.
//
// # Durable supervision
//
// Under the durable interpreter the supervisor, its links, its exit flag
// and the exit signals of its children are stored, so a crash of the whole
// process loses no restart: the next worker to claim the supervisor finds
// the crashed child's Exit in its mailbox. Give the supervisor a name:
//
//	var pool = effect.NewProgram("pool", 1, func(effect.Unit) effect.Eff[effect.Unit] {
//		return supervise.Supervisor(spec) // spec is code, not input
//	})
//
// register it and its children's programs (task.Register), and register
// ErrIntensity (task.RegisterError) so that a client sees it after a
// restart.
//
// # Where amber differs from OTP
//
//   - Spawning and linking are two ops, not one (spawn_link): a child that
//     ends before the link is seen as ending with reason "noproc", and is
//     restarted as a crash.
//   - A supervisor's parent is whoever links to it; an abnormal exit from
//     any task the supervisor is linked to that is not one of its children
//     makes it terminate its children and fail with that reason.
package supervise

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// Strategy says which children are restarted when one ends.
type Strategy int

// The strategies.
const (
	OneForOne Strategy = iota
	OneForAll
	RestForOne
	SimpleOneForOne
)

func (s Strategy) String() string {
	return [...]string{"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"}[s]
}

// Restart says when a child is restarted.
type Restart int

// The restart types.
const (
	Permanent Restart = iota
	Transient
	Temporary
)

func (r Restart) String() string { return [...]string{"permanent", "transient", "temporary"}[r] }

// Child describes a child: how to start it and when to restart it.
type Child struct {
	// Name identifies the child in the supervisor (and in its journal).
	Name string
	// Start spawns the child and yields its task ID. Build it with Worker.
	Start func(input any) effect.Eff[string]
	// Input is passed to Start (for SimpleOneForOne, StartChild's input is
	// used instead).
	Input    any
	Restart  Restart
	Shutdown time.Duration
}

// Worker returns a Start function that spawns program p. The input must
// be an I, or a value that decodes as one (an input that went through a
// store, where an int comes back as a uint64 and a struct as a map), or
// nil for I's zero value; anything else fails the start with an error
// matching ErrBadInput, never a zero value in its place.
func Worker[I, O any](p *effect.Program[I, O]) func(input any) effect.Eff[string] {
	return func(input any) effect.Eff[string] {
		in, err := inputAs[I](input)
		if err != nil {
			return effect.Fail[string](fmt.Errorf("supervise: starting %s: %w", p.Name, err))
		}
		return effect.Map(effect.Spawn[effect.Unit](p, in), func(pid effect.PID[effect.Unit]) string { return pid.ID })
	}
}

// ErrBadInput is matched by the error of starting a child whose input is
// not of its program's input type.
var ErrBadInput = errors.New("supervise: input of the wrong type")

// inputAs converts a child's input to I: as it is, through its CBOR
// encoding, or from nil to I's zero value.
func inputAs[I any](input any) (I, error) {
	var in I
	if input == nil {
		return in, nil
	}
	if v, ok := input.(I); ok {
		return v, nil
	}
	b, err := task.Marshal(input)
	if err == nil {
		err = task.Unmarshal(b, &in)
	}
	if err != nil {
		return in, fmt.Errorf("%w: %T is not a %T: %v", ErrBadInput, input, in, err)
	}
	return in, nil
}

// Spec describes a supervisor.
type Spec struct {
	Strategy Strategy
	// Intensity and Period: more than Intensity restarts within Period
	// end the supervisor. Defaults: 1 restart in 5 seconds, as OTP.
	Intensity int
	Period    time.Duration
	// Children, started in order (for SimpleOneForOne: none; see
	// Template).
	Children []Child
	// Template is the child spec of SimpleOneForOne.
	Template Child
}

// StartChild asks a SimpleOneForOne supervisor to start a child from its
// template with Input; the supervisor answers ReplyTo with a Started.
type StartChild struct {
	Input   any
	ReplyTo string
}

// Started answers StartChild.
type Started struct {
	ID  string
	Err string
}

// ErrIntensity is the failure of a supervisor whose children restarted
// more than Intensity times within Period.
var ErrIntensity = errors.New("supervise: restart intensity exceeded")

// ExitShutdown is the reason a supervisor gives the children it
// terminates.
const ExitShutdown = "shutdown"

type child struct {
	spec Child
	id   string // current task; "" when not running
}

type sup struct {
	spec     Spec
	children []*child
	restarts []time.Time
}

// event is what the supervisor waits for.
type event struct {
	exit  *effect.Exit
	start *StartChild
}

// Supervisor is the program of a supervisor with spec. Run it as a task
// (Spawn it, or Start it at the top). It returns only when it is shut down
// by its parent, with the parent's reason as its failure, or fails with
// ErrIntensity.
func Supervisor(spec Spec) effect.Eff[effect.Unit] {
	if spec.Intensity <= 0 {
		spec.Intensity = 1
	}
	if spec.Period <= 0 {
		spec.Period = 5 * time.Second
	}
	return effect.Do(func(e *effect.Ctx) effect.Unit {
		s := &sup{spec: spec}
		effect.Await(e, effect.TrapExits(true))
		if spec.Strategy != SimpleOneForOne {
			for _, c := range spec.Children {
				ch := &child{spec: c}
				s.children = append(s.children, ch)
				s.start(e, ch, c.Input)
			}
		}
		for {
			ev := effect.Await(e, effect.Race(
				effect.Map(effect.Receive[effect.Exit](), func(x effect.Exit) event { return event{exit: &x} }),
				effect.Map(effect.Receive[StartChild](), func(sc StartChild) event { return event{start: &sc} }),
			))
			if ev.start != nil {
				s.startDynamic(e, *ev.start)
				continue
			}
			s.handleExit(e, *ev.exit)
		}
	})
}

func (s *sup) start(e *effect.Ctx, ch *child, input any) {
	ch.id = effect.Await(e, ch.spec.Start(input))
	effect.Await(e, effect.Link(ch.id))
}

func (s *sup) startDynamic(e *effect.Ctx, req StartChild) {
	ch := &child{spec: s.spec.Template}
	ch.spec.Input = req.Input
	if s.spec.Strategy != SimpleOneForOne {
		s.reply(e, req.ReplyTo, Started{Err: "supervise: StartChild needs a SimpleOneForOne supervisor"})
		return
	}
	s.children = append(s.children, ch)
	s.start(e, ch, req.Input)
	s.reply(e, req.ReplyTo, Started{ID: ch.id})
}

func (s *sup) reply(e *effect.Ctx, to string, msg Started) {
	if to != "" {
		_, _ = effect.Try(e, effect.Send(effect.PID[Started]{ID: to}, msg))
	}
}

func (s *sup) index(id string) int {
	return slices.IndexFunc(s.children, func(c *child) bool { return c.id == id })
}

func (s *sup) handleExit(e *effect.Ctx, x effect.Exit) {
	i := s.index(x.From)
	if i < 0 {
		if x.Reason == effect.ExitNormal {
			return
		}
		// The parent (or another linked task) ended abnormally: shut down.
		s.terminateAll(e)
		fail(e, fmt.Errorf("supervise: shut down by %s: %s", x.From, x.Reason))
	}
	ch := s.children[i]
	ch.id = ""
	if !restarts(ch.spec.Restart, x.Reason) {
		if ch.spec.Restart == Temporary || s.spec.Strategy == SimpleOneForOne {
			s.children = slices.Delete(s.children, i, i+1)
		}
		return
	}
	now := e.Now()
	s.restarts = append(s.restarts, now)
	s.restarts = slices.DeleteFunc(s.restarts, func(t time.Time) bool { return now.Sub(t) >= s.spec.Period })
	if len(s.restarts) > s.spec.Intensity {
		e.Log(slog.LevelError, "supervisor: restart intensity exceeded, shutting down",
			"child", ch.spec.Name, "reason", x.Reason, "intensity", s.spec.Intensity, "period", s.spec.Period)
		s.terminateAll(e)
		fail(e, ErrIntensity)
	}
	switch s.spec.Strategy {
	case OneForOne, SimpleOneForOne:
		s.start(e, ch, ch.spec.Input)
	case OneForAll:
		s.terminate(e, s.children, i)
		for _, c := range s.children {
			s.start(e, c, c.spec.Input)
		}
	case RestForOne:
		s.terminate(e, s.children[i+1:], -1)
		for _, c := range s.children[i:] {
			s.start(e, c, c.spec.Input)
		}
	}
}

// restarts reports whether a child of restart type r that ended with
// reason is restarted.
func restarts(r Restart, reason string) bool {
	switch r {
	case Permanent:
		return true
	case Transient:
		return reason != effect.ExitNormal && reason != ExitShutdown
	}
	return false
}

// terminate ends the running children of cs in reverse order, skipping
// index skip.
func (s *sup) terminate(e *effect.Ctx, cs []*child, skip int) {
	for j := len(cs) - 1; j >= 0; j-- {
		if j != skip && cs[j].id != "" {
			s.stop(e, cs[j])
		}
	}
}

func (s *sup) terminateAll(e *effect.Ctx) { s.terminate(e, s.children, -1) }

// stop ends one child: a shutdown exit and its grace time, then a kill.
func (s *sup) stop(e *effect.Ctx, ch *child) {
	id := ch.id
	ch.id = ""
	from := func(x effect.Exit) bool { return x.From == id }
	if ch.spec.Shutdown > 0 {
		effect.Await(e, effect.Kill(id, ExitShutdown))
		got := effect.Await(e, effect.Race(
			effect.As(effect.ReceiveMatch(from), true),
			effect.As(effect.Sleep(ch.spec.Shutdown), false),
		))
		if got {
			return
		}
	}
	effect.Await(e, effect.Kill(id, effect.ExitKill))
	effect.Await(e, effect.ReceiveMatch(from))
}

// fail ends the supervisor's program with err.
func fail(e *effect.Ctx, err error) { effect.Must(e, effect.Unit{}, err) }
