package bench

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	_ "github.com/dbos-inc/dbos-transact-golang/dbos/driver/sqlite" // DBOS on SQLite (modernc.org/sqlite, as amber's store)

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/durabench"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// amber against DBOS Transact Go (the version pinned in go.mod) on the
// same database in the same process: three sequential steps one workflow
// at a time (latency), and 2,000 one-step workflows started from 64
// goroutines (throughput). Each benchmark has a sub-benchmark per
// database setting:
//
//	postgres       both on the database of AMBER_TEST_POSTGRES, each in a fresh schema
//	sqlite-full    each on its own file, WAL, synchronous=FULL (DBOS is
//	               given a *sql.DB opened so: its own SQLite URL forces NORMAL)
//	sqlite-normal  each on its own file, WAL, synchronous=NORMAL (DBOS from
//	               its own sqlite: URL)
//
// The two sides alternate: latency runs one amber workflow, then one
// DBOS workflow, and so on; throughput alternates whole batches. So noise
// on the shared machine hits both.

// dbosSteps is durabench.Steps(n) for DBOS: n sequential RunAsStep calls.
func dbosSteps(n int) dbos.Workflow[int, int] {
	return func(ctx dbos.Context, in int) (int, error) {
		acc := in
		for range n {
			v, err := dbos.RunAsStep(ctx, func(context.Context) (int, error) { return acc + 1, nil })
			if err != nil {
				return 0, err
			}
			acc = v
		}
		return acc, nil
	}
}

// peers is amber and DBOS set up on one database setting.
type peers struct {
	amber *interp.Durable
	dbos  dbos.Context
}

// openPeers opens both sides on setting (postgres, sqlite-full,
// sqlite-normal), amber running prog and DBOS wf, both closed when b
// ends.
func openPeers(b *testing.B, setting string, prog effect.AnyProgram, wf dbos.Workflow[int, int]) *peers {
	b.Helper()
	ctx := context.Background()
	var st store.Store
	cfg := dbos.Config{AppName: "amber-bench", Logger: quiet}
	switch setting {
	case "postgres":
		url, schema := pgSchema(b, "bench_amber_")
		pg, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		st = pg
		_, dschema := pgSchema(b, "bench_dbos_")
		cfg.DatabaseURL, cfg.DatabaseSchema = url, dschema
	case "sqlite-full", "sqlite-normal":
		dir := b.TempDir()
		mode := "FULL"
		if setting == "sqlite-normal" {
			mode = "NORMAL"
		}
		s, err := sqlite.Open(filepath.Join(dir, "amber.db"), &sqlite.Options{Synchronous: mode})
		if err != nil {
			b.Fatal(err)
		}
		st = s
		path := filepath.Join(dir, "dbos.db")
		if mode == "FULL" {
			// The pragmas DBOS sets on its own URL, but FULL.
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)"+
				"&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			cfg.SQLiteSystemDB = db
		} else {
			cfg.DatabaseURL = "sqlite:" + path
		}
	default:
		b.Fatalf("unknown setting %q", setting)
	}
	b.Cleanup(func() { st.Close() })
	reg := task.NewRegistry()
	if err := reg.Add(prog); err != nil {
		b.Fatal(err)
	}
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithWorkers(oneStepWorkers), interp.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	dctx, err := dbos.NewContext(ctx, cfg)
	if err != nil {
		b.Fatalf("dbos: %v", err)
	}
	dbos.RegisterWorkflow(dctx, wf, dbos.WithWorkflowName(prog.ProgramName()))
	if err := dbos.Launch(dctx); err != nil {
		b.Fatalf("dbos launch: %v", err)
	}
	b.Cleanup(func() { dbos.Shutdown(dctx, 10*time.Second) })
	return &peers{amber: d, dbos: dctx}
}

var peerSettings = []string{"postgres", "sqlite-full", "sqlite-normal"}

// BenchmarkPeersThreeStepLatency: one workflow of three sequential trivial
// steps at a time, from start to result, amber and DBOS alternating, at
// least 1,000 of each after 10 untimed ones of each (their first
// connections, statements and plans); reports each side's p50 and p99 and
// amber's as a fraction of DBOS's (p50-ratio, p99-ratio: below 1, amber
// is faster). With fewer runs the p99 would be the slowest run or two: one
// stall of a shared machine, not a percentile.
func BenchmarkPeersThreeStepLatency(b *testing.B) {
	for _, setting := range peerSettings {
		b.Run(setting, func(b *testing.B) {
			prog, wf := durabench.Steps(3), dbosSteps(3)
			p := openPeers(b, setting, prog, wf)
			ctx := context.Background()
			var la, ld []time.Duration
			const warmUp = 10
			for i := range max(b.N, 1000) + warmUp {
				if i == warmUp {
					la, ld = la[:0], ld[:0]
					b.ResetTimer()
				}
				start := time.Now()
				h, err := interp.StartProgram(p.amber, prog, 0, interp.WithID(fmt.Sprint("l", i)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := h.Wait(ctx); err != nil {
					b.Fatal(err)
				}
				la = append(la, time.Since(start))
				start = time.Now()
				dh, err := dbos.RunWorkflow(p.dbos, wf, 0, dbos.WithWorkflowID(fmt.Sprint("l", i)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := dh.GetResult(); err != nil {
					b.Fatal(err)
				}
				ld = append(ld, time.Since(start))
			}
			b.StopTimer()
			a50, a99 := durabench.Percentiles(la)
			d50, d99 := durabench.Percentiles(ld)
			b.ReportMetric(a50, "amber-p50-ms")
			b.ReportMetric(a99, "amber-p99-ms")
			b.ReportMetric(d50, "dbos-p50-ms")
			b.ReportMetric(d99, "dbos-p99-ms")
			b.ReportMetric(a50/d50, "p50-ratio")
			b.ReportMetric(a99/d99, "p99-ratio")
		})
	}
}

// BenchmarkPeersOneStepThroughput: each iteration starts 2,000 one-step
// workflows from 64 goroutines and waits for them all, on amber then on
// DBOS; reports each side's workflows per second and their ratio
// (wf-ratio: above 1, amber is faster). Run with -benchtime=1x and
// -count.
func BenchmarkPeersOneStepThroughput(b *testing.B) {
	for _, setting := range peerSettings {
		b.Run(setting, func(b *testing.B) {
			prog, wf := durabench.Steps(1), dbosSteps(1)
			p := openPeers(b, setting, prog, wf)
			ctx := context.Background()
			var ta, td time.Duration
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				fanOut(b, oneStepN, func(j int) (func() error, error) {
					h, err := interp.StartProgram(p.amber, prog, 0, interp.WithID(fmt.Sprint("t", i, "-", j)))
					if err != nil {
						return nil, err
					}
					return func() error { _, err := h.Wait(ctx); return err }, nil
				})
				ta += time.Since(start)
				start = time.Now()
				fanOut(b, oneStepN, func(j int) (func() error, error) {
					h, err := dbos.RunWorkflow(p.dbos, wf, 0, dbos.WithWorkflowID(fmt.Sprint("t", i, "-", j)))
					if err != nil {
						return nil, err
					}
					return func() error { _, err := h.GetResult(); return err }, nil
				})
				td += time.Since(start)
			}
			b.StopTimer()
			ra := float64(oneStepN*b.N) / ta.Seconds()
			rd := float64(oneStepN*b.N) / td.Seconds()
			b.ReportMetric(ra, "amber-wf/s")
			b.ReportMetric(rd, "dbos-wf/s")
			b.ReportMetric(ra/rd, "wf-ratio")
		})
	}
}

// fanOut starts n workflows with start(0..n-1), from 64 goroutines as a
// server taking requests would, then waits for each (a goroutine per
// workflow), and fails b on the first error.
func fanOut(b *testing.B, n int, start func(i int) (wait func() error, err error)) {
	waits := make([]func() error, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := g; i < n; i += 64 {
				w, err := start(i)
				if err != nil {
					errs <- err
					return
				}
				waits[i] = w
			}
		})
	}
	wg.Wait()
	if len(errs) == 0 {
		for _, w := range waits {
			wg.Go(func() {
				if err := w(); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
