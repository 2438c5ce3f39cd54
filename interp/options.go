package interp

import (
	"errors"
	"log/slog"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/task"
)

// Options are typed by the interpreters that honour them, so that an
// option an interpreter would ignore does not compile: NewMock takes
// MockOptions, NewLive LiveOptions, NewSim SimOptions, NewDurable
// DurableOptions and Replay ReplayOptions. An Option (WithHandlers,
// WithLogger, WithSeed) is all four of the first; WithRegistry is all
// five; WithStartTime is a ClockOption (Mock and Sim); WithWorkers a
// PoolOption (Live and Durable); the others belong to one interpreter.
type (
	// MockOption configures NewMock.
	MockOption interface{ mockOption(*config) }
	// LiveOption configures NewLive.
	LiveOption interface{ liveOption(*config) }
	// SimOption configures NewSim.
	SimOption interface{ simOption(*config) }
	// DurableOption configures NewDurable.
	DurableOption interface{ durableOption(*config) }
	// ReplayOption configures Replay and ReplayRecord.
	ReplayOption interface{ replayOption(*config) }

	// Option configures any interpreter that runs tasks: Mock, Live, Sim
	// and Durable.
	Option interface {
		MockOption
		LiveOption
		SimOption
		DurableOption
	}
	// RegistryOption configures every interpreter and replay.
	RegistryOption interface {
		Option
		ReplayOption
	}
	// ClockOption configures the interpreters with a virtual clock: Mock
	// and Sim.
	ClockOption interface {
		MockOption
		SimOption
	}
	// PoolOption configures the interpreters that run tasks on a pool of
	// goroutines: Live and Durable.
	PoolOption interface {
		LiveOption
		DurableOption
	}
)

// setting is an option; its type says which interpreters take it.
type setting func(*config)

func (s setting) mockOption(c *config)    { s(c) }
func (s setting) liveOption(c *config)    { s(c) }
func (s setting) simOption(c *config)     { s(c) }
func (s setting) durableOption(c *config) { s(c) }
func (s setting) replayOption(c *config)  { s(c) }

// The option types of one or two interpreters.
type (
	mockSim     func(*config)
	liveDurable func(*config)
	liveOnly    func(*config)
	simOnly     func(*config)
	durableOnly func(*config)
	replayOnly  func(*config)
)

func (s mockSim) mockOption(c *config)        { s(c) }
func (s mockSim) simOption(c *config)         { s(c) }
func (s liveDurable) liveOption(c *config)    { s(c) }
func (s liveDurable) durableOption(c *config) { s(c) }
func (s liveOnly) liveOption(c *config)       { s(c) }
func (s simOnly) simOption(c *config)         { s(c) }
func (s durableOnly) durableOption(c *config) { s(c) }
func (s replayOnly) replayOption(c *config)   { s(c) }

type config struct {
	handlers  *effect.Handlers
	registry  *task.Registry
	resolver  task.Resolver // decides which program runs a task: registry, or the durable interpreter's
	logger    *slog.Logger
	loggerSet bool
	seed      uint64
	seeded    bool
	journal   bool
	workers   int
	start     time.Time
	world     *world.World
	durable   DurableOptions
	sim       SimOptions
	version   int               // replay: the version of the record's program to replay against
	routes    Routes            // decides routed calls (WithRoutes)
	swaps     map[string]string // replay: function -> version swapped in (WithRoute)
}

// newConfig applies opts, each through apply (its interpreter's method).
func newConfig[O any](opts []O, apply func(O, *config)) config {
	c := config{handlers: effect.NewHandlers(), logger: slog.Default()}
	for _, o := range opts {
		apply(o, &c)
	}
	if c.registry == nil {
		c.registry = task.NewRegistry()
	}
	c.resolver = c.registry
	return c
}

// spawned returns the program the child of op runs (see programFor); an
// op decoded from a journal carries only its program's name.
func (c *config) spawned(op effect.SpawnOp) (effect.AnyProgram, error) {
	if p := op.Prog(); p != nil {
		return c.programFor(p, op.Version)
	}
	version := op.Version
	if version == 0 {
		v, err := c.resolver.Current(op.Program)
		if err != nil {
			return nil, err
		}
		version = v
	}
	return c.resolver.Program(op.Program, version)
}

// programFor returns the program a new task of p's program runs: the
// version given, or (version 0) the program's current version under the
// resolver; p itself where that is p's version, or where the resolver does
// not know p's program at all (an in-memory test that registers nothing).
func (c *config) programFor(p effect.AnyProgram, version int) (effect.AnyProgram, error) {
	name := p.ProgramName()
	if version == 0 {
		v, err := c.resolver.Current(name)
		if errors.Is(err, task.ErrUnknownProgram) {
			return p, nil
		}
		if err != nil {
			return nil, err
		}
		version = v
	}
	if version == p.ProgramVersion() {
		return p, nil
	}
	return c.resolver.Program(name, version)
}

// WithHandlers registers op handlers. A handler takes precedence over an
// activity's own Run method, which is how a test replaces the outside
// world.
func WithHandlers(hs ...effect.Handler) Option {
	return setting(func(c *config) {
		for _, h := range hs {
			c.handlers.Add(h)
		}
	})
}

// WithRegistry sets the registry of programs, message types and errors. It
// is needed to spawn programs by name, to decode journaled errors back into
// registered sentinels, by the durable interpreter, and by ReplayRecord.
func WithRegistry(r *task.Registry) RegistryOption {
	return setting(func(c *config) { c.registry = r })
}

// WithLogger sets the logger that Log ops write to. The default is
// slog.Default() for Live and Durable, nothing for the Mock and the Sim.
func WithLogger(l *slog.Logger) Option {
	return setting(func(c *config) { c.logger, c.loggerSet = l, true })
}

// WithSeed makes Random deterministic: each task draws from a generator
// seeded with seed and the task's ID. (NewSim's seed argument also seeds
// Random; WithSeed overrides it there.)
func WithSeed(seed uint64) Option { return setting(func(c *config) { c.seed, c.seeded = seed, true }) }

// WithJournal makes the live interpreter record every task's journal (the
// Mock, the Sim and the durable interpreter always do). Recording costs
// an encoding per op.
func WithJournal() LiveOption { return liveOnly(func(c *config) { c.journal = true }) }

// WithWorkers sets the number of goroutines that step tasks: for Live,
// default GOMAXPROCS; for Durable, default 64. A durable worker waits for
// its step's commit only when no other step is being committed (one task
// at a time pays no hand-off); otherwise it hands the commit on and steps
// the next task, so the number of workers does not bound a group commit.
func WithWorkers(n int) PoolOption { return liveDurable(func(c *config) { c.workers = n }) }

// WithStartTime sets the virtual clock of the Mock or the Sim at start
// (default 2000-01-01T00:00:00Z).
func WithStartTime(t time.Time) ClockOption { return mockSim(func(c *config) { c.start = t }) }
