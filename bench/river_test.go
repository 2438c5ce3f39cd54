package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// One-step durable work on PostgreSQL: amber tasks that perform one
// trivial activity and return, against River jobs with a trivial Work
// method, on the same database in the same run. Each side gets a fresh
// schema, dropped at cleanup, and the same worker concurrency.

const (
	oneStepN       = 2000 // tasks or jobs per iteration
	oneStepWorkers = 100  // amber DurableOptions.Workers, River MaxWorkers
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// pgSchema creates a fresh schema in the database of AMBER_TEST_POSTGRES,
// dropped at cleanup (registered first, so it runs after the cleanups of
// whatever uses the schema), and returns the URL and the schema's name.
func pgSchema(b *testing.B, prefix string) (string, string) {
	b.Helper()
	url := os.Getenv("AMBER_TEST_POSTGRES")
	if url == "" {
		b.Skip("set AMBER_TEST_POSTGRES=postgres://user@host:5432/db?sslmode=disable to run the PostgreSQL benchmarks")
	}
	var r [6]byte
	rand.Read(r[:])
	schema := prefix + hex.EncodeToString(r[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatalf("connect to AMBER_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		b.Fatalf("create schema %s: %v", schema, err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return url, schema
}

// walLSN returns the database cluster's WAL insert position
// (pg_current_wal_insert_lsn), as text.
func walLSN(b *testing.B, url string) string {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatalf("wal position: %v", err)
	}
	defer conn.Close(ctx)
	var lsn string
	if err := conn.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn); err != nil {
		b.Fatalf("wal position: %v", err)
	}
	return lsn
}

// reportWAL reports wal-B/task: the WAL the cluster wrote from from to
// now, per unit of work. It counts whatever else ran on the cluster in
// that time too (other databases, autovacuum, checkpoints): read it on an
// otherwise idle server. The range is logged for pg_walinspect.
func reportWAL(b *testing.B, url, from string) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatalf("wal bytes: %v", err)
	}
	defer conn.Close(ctx)
	var (
		to string
		n  float64
	)
	if err := conn.QueryRow(ctx, `SELECT lsn::text, pg_wal_lsn_diff(lsn, $1::pg_lsn)::float8
		FROM pg_current_wal_insert_lsn() AS lsn`, from).Scan(&to, &n); err != nil {
		b.Fatalf("wal bytes: %v", err)
	}
	b.Logf("WAL %s to %s", from, to)
	b.ReportMetric(n/float64(oneStepN*b.N), "wal-B/task")
}

// BenchmarkOneStepPostgres: each iteration runs 2,000 one-step tasks (amber)
// or jobs (River) from the first insert to the last completion; run with
// -benchtime=1x. Compare tasks/s with jobs/s of the same run; insert-ms is
// the part of an iteration spent inserting (starting) them.
//
//   - amber: one interp.StartMany of the 2,000 tasks (one transaction,
//     like River's InsertMany), then Wait for every task.
//   - amber-2workers, amber-4workers: the same with 2 and 4 workers on
//     the one database (each a Durable with a store and a pool of its
//     own, as worker processes have), each starting its share of the
//     tasks with one StartMany, concurrently: the scale-out curve.
//   - amber-each: 100 goroutines call StartProgram, one task each call
//     (concurrent starts share a transaction when they meet in the
//     worker's creator; each caller pays a hand-off), 1 worker.
//   - amber-serial: one goroutine calls StartProgram in a loop.
//   - river: one InsertMany of 2,000 jobs (one transaction); River's defaults
//     but MaxWorkers 100, so FetchCooldown is 100ms, which caps it near
//     MaxWorkers/FetchCooldown = 1,000 jobs/s.
//   - river-cooldown1ms: the same with FetchCooldown 1ms (River's minimum).
//
// amber also reports calls/task, its store's writing calls per task
// (creates, claims, commits, counted by storetest.Count; a create groups
// many tasks, a commit many steps), and idle-claims/task, the Claims that
// found nothing.
//
// Both sides keep their default pool size (pgxpool: max(4, GOMAXPROCS)
// connections) and their default polling; both wake on LISTEN/NOTIFY.
func BenchmarkOneStepPostgres(b *testing.B) {
	b.Run("amber", func(b *testing.B) { benchAmberOneStep(b, startMany, 1) })
	b.Run("amber-2workers", func(b *testing.B) { benchAmberOneStep(b, startMany, 2) })
	b.Run("amber-4workers", func(b *testing.B) { benchAmberOneStep(b, startMany, 4) })
	b.Run("amber-each", func(b *testing.B) { benchAmberOneStep(b, oneStepWorkers, 1) })
	b.Run("amber-serial", func(b *testing.B) { benchAmberOneStep(b, 1, 1) })
	b.Run("river", func(b *testing.B) { benchRiverOneStep(b, 0) })
	b.Run("river-cooldown1ms", func(b *testing.B) { benchRiverOneStep(b, time.Millisecond) })
}

// --- amber ---

// Nop is a trivial activity.
type Nop struct {
	effect.Returns[int]
	N int
}

// Run returns N+1.
func (n Nop) Run(context.Context) (int, error) { return n.N + 1, nil }

var oneStep = effect.NewProgram("onestep", 1, func(in int) effect.Eff[int] {
	return effect.Perform(Nop{N: in})
})

// warmUp is the number of untimed rounds each side of
// BenchmarkOneStepPostgres runs before it times any: the first round of a
// fresh schema and pool pays for connections, statements and plans (on
// this machine it took amber 5.2 k tasks/s where the next ones took
// 6.3-7.1 k), and whichever side ran first in the process paid the most.
const warmUp = 1

// startMany, as benchAmberOneStep's starters: each worker starts its
// share of the tasks with one interp.StartMany.
const startMany = 0

// benchAmberOneStep runs the amber side of BenchmarkOneStepPostgres on
// workers workers; starters goroutines call StartProgram (startMany: one
// StartMany per worker).
func benchAmberOneStep(b *testing.B, starters, workers int) {
	url, schema := pgSchema(b, "bench_amber_")
	ctx := context.Background()
	reg := task.NewRegistry()
	if err := task.Register(reg, oneStep); err != nil {
		b.Fatal(err)
	}
	ds := make([]*interp.Durable, workers)
	counts := make([]*storetest.Counted, workers)
	for w := range ds {
		pst, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { pst.Close() })
		st, c := storetest.Count(pst)
		counts[w] = c
		ds[w], err = interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), interp.WithWorkers(oneStepWorkers))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ds[w].Close() })
	}

	var inserting time.Duration
	var wal string
	var before []storetest.Tally
	// One untimed round first (warmUp), as on River's side: the pools'
	// connections, the statements and their plans are made then.
	for i := range b.N + warmUp {
		if i == warmUp {
			inserting = 0
			before = before[:0]
			for _, c := range counts {
				before = append(before, c.Tally())
			}
			wal = walLSN(b, url)
			b.ResetTimer()
		}
		t0 := time.Now()
		tasks := make([]*interp.Handle[int], oneStepN)
		start := func(j int) {
			t, err := interp.StartProgram(ds[j%workers], oneStep, j, interp.WithID(fmt.Sprintf("t%d-%d", i, j)))
			if err != nil {
				b.Error(err)
				return
			}
			tasks[j] = t
		}
		switch {
		case starters == startMany:
			var wg sync.WaitGroup
			for w, d := range ds {
				wg.Go(func() {
					var ins []int
					var ids []string
					for j := w; j < oneStepN; j += workers {
						ins = append(ins, j)
						ids = append(ids, fmt.Sprintf("t%d-%d", i, j))
					}
					hs, err := interp.StartMany(d, oneStep, ins, interp.WithIDs(ids...))
					if err != nil {
						b.Error(err)
						return
					}
					for k, h := range hs {
						tasks[ins[k]] = h
					}
				})
			}
			wg.Wait()
		case starters == 1:
			for j := range tasks {
				start(j)
			}
		default:
			var wg sync.WaitGroup
			for g := range starters {
				wg.Go(func() {
					for j := g; j < oneStepN; j += starters {
						start(j)
					}
				})
			}
			wg.Wait()
		}
		if b.Failed() {
			b.FailNow()
		}
		inserting += time.Since(t0)
		var wg sync.WaitGroup
		errs := make(chan error, oneStepN)
		for j, t := range tasks {
			wg.Go(func() {
				v, err := t.Wait(ctx)
				if err == nil && v != j+1 {
					err = fmt.Errorf("task %d returned %v, want %d", j, v, j+1)
				}
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportWAL(b, url, wal)
	b.ReportMetric(float64(oneStepN*b.N)/b.Elapsed().Seconds(), "tasks/s")
	b.ReportMetric(float64(inserting.Milliseconds())/float64(b.N), "insert-ms")
	// Calls of the store's writing methods (each one or two transactions:
	// see store/postgres Commit), and the Claims that found nothing.
	var calls, idle int64
	for w, c := range counts {
		t := c.Tally()
		calls += t.Writes() - before[w].Writes()
		idle += t.Idle - before[w].Idle
	}
	b.ReportMetric(float64(calls)/float64(oneStepN*b.N), "calls/task")
	b.ReportMetric(float64(idle)/float64(oneStepN*b.N), "idle-claims/task")
}

// --- River ---

// NopArgs are the arguments of a trivial River job.
type NopArgs struct {
	N int `json:"n"`
}

// Kind names the job kind.
func (NopArgs) Kind() string { return "nop" }

// NopWorker does nothing.
type NopWorker struct {
	river.WorkerDefaults[NopArgs]
}

// Work succeeds at once.
func (NopWorker) Work(context.Context, *river.Job[NopArgs]) error { return nil }

func benchRiverOneStep(b *testing.B, cooldown time.Duration) {
	url, schema := pgSchema(b, "bench_river_")
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	driver := riverpgxv5.New(pool)
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatalf("river migrate: %v", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, NopWorker{})
	client, err := river.NewClient(driver, &river.Config{
		Schema:  schema,
		Logger:  quiet,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: oneStepWorkers, FetchCooldown: cooldown}},
		Workers: workers,
	})
	if err != nil {
		b.Fatal(err)
	}
	// Room for every completion of an iteration: a full channel drops events.
	events, cancelSub := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: 2 * oneStepN,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed},
	})
	b.Cleanup(cancelSub)
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			b.Errorf("river stop: %v", err)
		}
	})

	params := make([]river.InsertManyParams, oneStepN)
	for j := range params {
		params[j] = river.InsertManyParams{Args: NopArgs{N: j}}
	}
	var inserting time.Duration
	var wal string
	for i := range b.N + warmUp {
		if i == warmUp {
			inserting = 0
			wal = walLSN(b, url)
			b.ResetTimer()
		}
		t0 := time.Now()
		if _, err := client.InsertMany(ctx, params); err != nil {
			b.Fatal(err)
		}
		inserting += time.Since(t0)
		timeout := time.After(5 * time.Minute)
		for done := 0; done < oneStepN; done++ {
			select {
			case ev := <-events:
				if ev.Kind != river.EventKindJobCompleted {
					b.Fatalf("river job %d: %s", ev.Job.ID, ev.Kind)
				}
			case <-timeout:
				b.Fatalf("river: %d of %d jobs completed after 5 minutes", done, oneStepN)
			}
		}
	}
	b.StopTimer()
	reportWAL(b, url, wal)
	b.ReportMetric(float64(oneStepN*b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64(inserting.Milliseconds())/float64(b.N), "insert-ms")
}
