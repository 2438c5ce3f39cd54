package interp

import (
	"log/slog"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/task"
)

// An Option configures an interpreter.
type Option func(*config)

type config struct {
	handlers  *effect.Handlers
	registry  *task.Registry
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
}

func newConfig(opts []Option) config {
	c := config{handlers: effect.NewHandlers(), logger: slog.Default()}
	for _, o := range opts {
		o(&c)
	}
	if c.registry == nil {
		c.registry = task.NewRegistry()
	}
	return c
}

// WithHandlers registers op handlers. A handler takes precedence over an
// activity's own Run method, which is how a test replaces the outside
// world.
func WithHandlers(hs ...effect.Handler) Option {
	return func(c *config) {
		for _, h := range hs {
			c.handlers.Add(h)
		}
	}
}

// WithRegistry sets the registry of programs, message types and errors. It
// is needed to spawn programs by name, to decode journaled errors back into
// registered sentinels, and by the durable interpreter.
func WithRegistry(r *task.Registry) Option { return func(c *config) { c.registry = r } }

// WithLogger sets the logger that Log ops write to (live) or that the mock
// echoes them to. The default is slog.Default() for live, nothing for the
// mock.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger, c.loggerSet = l, true } }

// WithSeed makes Random deterministic: each task draws from a generator
// seeded with seed and the task's ID.
func WithSeed(seed uint64) Option { return func(c *config) { c.seed, c.seeded = seed, true } }

// WithJournal makes the live interpreter record every task's journal (the
// mock always does). Recording costs an encoding per op.
func WithJournal() Option { return func(c *config) { c.journal = true } }

// WithWorkers sets the number of worker goroutines of the live interpreter
// (default GOMAXPROCS).
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithStartTime sets the mock's virtual clock at start (default
// 2000-01-01T00:00:00Z).
func WithStartTime(t time.Time) Option { return func(c *config) { c.start = t } }
