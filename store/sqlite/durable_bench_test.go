package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/durabench"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// The durable interpreter's benchmarks live here, beside the raw SQLite
// baseline, so that one `go test -bench` run measures both on the same
// disk. Run with -benchtime=1x: each iteration is a whole workload.

func steps(n int) *effect.Program[int, int] { return durabench.Steps(n) }

type durableEnv struct {
	*durabench.Env
	d  *interp.Durable
	st *sqlite.Store
}

func openDurable(b *testing.B, progs ...effect.AnyProgram) *durableEnv {
	b.Helper()
	return openDurableAt(b, filepath.Join(b.TempDir(), "amber.db"), progs...)
}

// openDurableAt is openDurable with the store at path (a path or a
// "file:" URI).
func openDurableAt(b *testing.B, path string, progs ...effect.AnyProgram) *durableEnv {
	b.Helper()
	st, err := sqlite.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() }) // after the interpreter's Close
	env := durabench.Open(b, st, progs...)
	return &durableEnv{env, env.D, st}
}

func runAll(b *testing.B, env *durableEnv, p effect.AnyProgram, n int, prefix string) {
	durabench.RunAll(b, env.Env, p, n, prefix)
}

// BenchmarkDurableSQLite: 1,000 concurrent tasks, each doing 10 journaled
// activity steps, on SQLite with synchronous=FULL. Before and after each
// iteration it runs, in the same process and on the same disk, a round of
// each of its baselines (their time is the mean of the two, as each
// follows the other's writes as the iteration does), with as many rows or
// steps as the iteration commits:
// BenchmarkSQLiteBatchedInsert (batched-rows/s; x-batched is steps/s over
// it) and BenchmarkSQLiteStepRows (steprows-steps/s, x-steprows). The
// disk's fsync time drifts by 2x and more within minutes on a shared
// machine, so a ratio to a baseline measured by another benchmark, minutes
// apart, swings with it.
func BenchmarkDurableSQLite(b *testing.B) {
	const tasks, n = 1000, 10
	p := steps(n)
	env := openDurable(b, p)
	batched, floor := newBatchedInsert(b), newStepRows(b)
	txs, stepped, pages := sqlite.TxStats(env.st)
	var batchedTime, floorTime time.Duration
	baselines := func(round int) {
		batchedTime += batched.round(b) / 2
		floor.create(b, round)
		floorTime += floor.steps(b) / 2
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		baselines(2 * i)
		b.StartTimer()
		runAll(b, env, p, tasks, fmt.Sprint("r", i))
		b.StopTimer()
		baselines(2*i + 1)
		b.StartTimer()
	}
	durable := b.Elapsed()
	rate := func(d time.Duration) float64 { return float64(tasks*n*b.N) / d.Seconds() }
	b.ReportMetric(rate(durable), "steps/s")
	b.ReportMetric(rate(batchedTime), "batched-rows/s")
	b.ReportMetric(rate(floorTime), "steprows-steps/s")
	b.ReportMetric(float64(batchedTime)/float64(durable), "x-batched")
	b.ReportMetric(float64(floorTime)/float64(durable), "x-steprows")
	reportTx(b, env.st, txs, stepped, pages)
}

// reportTx reports, since TxStats returned txs, stepped and pages, the
// writer's transactions (tx), the steps each wrote on average (steps/tx)
// and the pages (WAL frames) it wrote per step (pages/step).
func reportTx(b *testing.B, st *sqlite.Store, txs, stepped, pages int64) {
	txs2, stepped2, pages2 := sqlite.TxStats(st)
	b.ReportMetric(float64(txs2-txs)/float64(b.N), "tx")
	if txs2 > txs {
		b.ReportMetric(float64(stepped2-stepped)/float64(txs2-txs), "steps/tx")
	}
	if stepped2 > stepped {
		b.ReportMetric(float64(pages2-pages)/float64(stepped2-stepped), "pages/step")
	}
}

// BenchmarkWorkflowThroughput: start 2,000 tasks, each running one trivial
// activity and completing; report workflows per second, first start to last
// completion.
func BenchmarkWorkflowThroughput(b *testing.B) {
	const tasks = 2000
	p := steps(1)
	env := openDurable(b, p)
	txs, stepped, pages := sqlite.TxStats(env.st)
	stmts := sqlite.TxStmts(env.st)
	b.ResetTimer()
	for i := range b.N {
		runAll(b, env, p, tasks, fmt.Sprint("w", i))
	}
	b.ReportMetric(float64(tasks*b.N)/b.Elapsed().Seconds(), "wf/s")
	b.ReportMetric(float64(sqlite.TxStmts(env.st)-stmts)/float64(tasks*b.N), "stmts/wf")
	reportTx(b, env.st, txs, stepped, pages)
}

// BenchmarkThreeStepLatency: one task at a time running three sequential
// activities, from start to result; reports the median and 99th
// percentile, and the store transactions each task cost
// (commits/workflow).
func BenchmarkThreeStepLatency(b *testing.B) {
	p := steps(3)
	env := openDurable(b, p)
	durabench.Latency(b, env.Env, p, "l")
}

// BenchmarkDurableStepLatency: one task doing sequential activity steps;
// reports µs per step beside the cost of one fsync on the same disk.
func BenchmarkDurableStepLatency(b *testing.B) {
	const n = 200
	p := steps(n)
	env := openDurable(b, p)
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	const syncs = 50
	for range syncs {
		if _, err := f.Write([]byte("x")); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	fsync := time.Since(start) / syncs
	b.ResetTimer()
	for i := range b.N {
		runAll(b, env, p, 1, fmt.Sprint("s", i))
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n*b.N), "µs/step")
	b.ReportMetric(float64(fsync.Microseconds()), "µs/fsync")
}

// BenchmarkResumeLongJournal: a task with 10,000 journal entries is
// resumed (its program replayed from the journal) by a fresh worker, and
// the same task kept short with ContinueAsNew.
func BenchmarkResumeLongJournal(b *testing.B) {
	const entries = 10_000
	long := effect.NewProgram("long", 1, func(n int) effect.Eff[int] {
		var loop func(i int) effect.Eff[int]
		loop = func(i int) effect.Eff[int] {
			if i == entries {
				return effect.Map(effect.Receive[string](), func(string) int { return i })
			}
			return effect.Then(effect.Random(), func(uint64) effect.Eff[int] { return loop(i + 1) })
		}
		return loop(0)
	})
	// The same work, continuing as new every 100 entries.
	short := effect.NewProgram("short", 1, func(done int) effect.Eff[int] {
		var loop func(i int) effect.Eff[int]
		loop = func(i int) effect.Eff[int] {
			switch {
			case done+i == entries:
				return effect.Map(effect.Receive[string](), func(string) int { return done + i })
			case i == 100:
				return effect.ContinueAsNew[int](done + i)
			}
			return effect.Then(effect.Random(), func(uint64) effect.Eff[int] { return loop(i + 1) })
		}
		return loop(0)
	})
	for _, p := range []*effect.Program[int, int]{long, short} {
		b.Run(p.Name, func(b *testing.B) {
			env := openDurable(b, p)
			if _, err := interp.StartAny(env.d, p, 0, interp.WithID("t")); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			entries := 0
			for { // wait until it waits for its message
				rec, _, err := env.st.Load(ctx, "t")
				if err != nil {
					b.Fatal(err)
				}
				if rec.Wait != nil && rec.Wait.Kind == task.WaitReceive {
					entries = len(rec.Journal)
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			b.ResetTimer()
			for range b.N {
				rec, _, err := env.st.Load(ctx, "t")
				if err != nil {
					b.Fatal(err)
				}
				r, err := interp.ReplayRecord(ctx, rec, interp.WithRegistry(registryOf(p)))
				if err != nil || r.Done {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/resume")
			b.ReportMetric(float64(entries), "entries")
		})
	}
}

func registryOf(p effect.AnyProgram) *task.Registry {
	r := task.NewRegistry()
	_ = r.Add(p)
	return r
}

// BenchmarkSQLitePagesByTree runs BenchmarkDurableSQLite's workload
// (durable) and BenchmarkWorkflowThroughput's (workflow) with the WAL never
// checkpointed, reads the page number of every frame written meanwhile
// from the -wal file, and reports the frames per step of each b-tree
// (dbstat names them; "<tree>-pages/step", leaves and interior pages
// together) and in all (pages/step): where the writes of a step go. For
// the page counts, not the time: the WAL grows all along.
func BenchmarkSQLitePagesByTree(b *testing.B) {
	for _, w := range []struct {
		name     string
		tasks, n int
	}{{"durable", 1000, 10}, {"workflow", 2000, 1}} {
		b.Run(w.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "amber.db")
			p := steps(w.n)
			env := openDurableAt(b, "file:"+path+"?_pragma=wal_autocheckpoint(0)", p)
			st := env.st
			_, stepped, _ := sqlite.TxStats(st)
			from := walFrames(b, path)
			b.ResetTimer()
			for i := range b.N {
				runAll(b, env, p, w.tasks, fmt.Sprint("p", i))
			}
			b.StopTimer()
			_, stepped2, _ := sqlite.TxStats(st)
			frames := walFrames(b, path)[len(from):]
			trees := pageTrees(b, path)
			byTree := map[string]int{}
			for _, pg := range frames {
				byTree[trees[pg]]++
			}
			steps := float64(stepped2 - stepped)
			for t, n := range byTree {
				if t == "" {
					t = "unknown"
				}
				b.ReportMetric(float64(n)/steps, t+"-pages/step")
			}
			b.ReportMetric(float64(len(frames))/steps, "pages/step")
		})
	}
}

// walFrames returns the page numbers of the frames in the -wal file of
// the database at path, in order.
func walFrames(b *testing.B, path string) []uint32 {
	wal, err := os.ReadFile(path + "-wal")
	if err != nil {
		b.Fatal(err)
	}
	if len(wal) < 32 {
		return nil
	}
	size := int(binary.BigEndian.Uint32(wal[8:12]))
	var pages []uint32
	for off := 32; off+24+size <= len(wal); off += 24 + size {
		pages = append(pages, binary.BigEndian.Uint32(wal[off:]))
	}
	return pages
}

// pageTrees maps the pages of the database at path to the b-tree (table
// or index) that holds them, as dbstat says.
func pageTrees(b *testing.B, path string) map[uint32]string {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name, pageno FROM dbstat`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	trees := map[uint32]string{}
	for rows.Next() {
		var name string
		var page uint32
		if err := rows.Scan(&name, &page); err != nil {
			b.Fatal(err)
		}
		trees[page] = name
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return trees
}
