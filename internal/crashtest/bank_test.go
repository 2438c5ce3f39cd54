package crashtest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/amberrt/amber/internal/crashtest/bank"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// The bank torture: worker processes (bankworker) run the transfers of a
// bank.Plan on one STM world, while the test kills them with SIGKILL and
// starts them again at seeded moments, and terminates their PostgreSQL
// backends mid-commit. At the end every transfer is done, and bank.Check
// replays the committed transfers serially in the order their versions
// give: every balance and every decision must match, nothing lost, nothing
// doubled, the total conserved.
//
// The CI runs are short. Longer runs, by environment:
//
//	AMBER_BANK_RUNS=5 AMBER_BANK_KILLS=40 AMBER_BANK_PAYS=400 AMBER_BANK_WAITS=30 \
//		go test -run TestBankPostgres -v ./internal/crashtest
//
// and AMBER_CRASH_SEED replays a run's seed.

// envInt reads a knob from the environment, def if unset.
func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err, name)
	return n
}

// proc is a worker process and what it printed.
type proc struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
	err  error
}

// start runs bin with args.
func start(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), out: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = syncWriter(p.out), syncWriter(p.out)
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// output returns what the process printed so far.
func (p *proc) output() string {
	outMu.Lock()
	defer outMu.Unlock()
	return p.out.String()
}

// kill kills the process with SIGKILL and waits for it; it reports
// whether the process was still running.
func (p *proc) kill() bool {
	select {
	case <-p.done:
		return false
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	return true
}

// printed waits until the process has printed s.
func (p *proc) printed(t testing.TB, s string) {
	t.Helper()
	poll.Eventually(t, func() (bool, error) {
		out := p.output()
		select {
		case <-p.done:
			if !strings.Contains(out, s) {
				return false, fmt.Errorf("the worker exited (%v) before it printed %q:\n%s", p.err, s, out)
			}
		default:
		}
		return strings.Contains(out, s), nil
	}, "the worker to print %q", s)
}

// failed reports what a run printed if it failed.
func (p *proc) failed() string {
	out := p.output()
	if strings.Contains(out, "worker:") || strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic:") {
		return out
	}
	return ""
}

var outMu sync.Mutex

type lockedWriter struct{ b *bytes.Buffer }

func (w lockedWriter) Write(p []byte) (int, error) {
	outMu.Lock()
	defer outMu.Unlock()
	return w.b.Write(p)
}

func syncWriter(b *bytes.Buffer) lockedWriter { return lockedWriter{b} }

// pgBank is a PostgreSQL schema of its own for a bank run, and the
// application_name its workers' connections carry (so that the test
// terminates their backends, never another test's).
type pgBank struct {
	backend
	url, schema, app string
}

func newPGBank(t testing.TB) pgBank {
	b := postgresBackend(t)
	url, schema := b.args[1], b.args[3]
	app := "amber_" + schema
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	b.args[1] = url + sep + "application_name=" + app
	return pgBank{backend: b, url: url, schema: schema, app: app}
}

// exec runs one statement on a connection of the test's own.
func (p pgBank) exec(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), p.url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int64
	require.NoError(t, conn.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// terminate terminates the backends of the run's workers: those inside a
// transaction are cut mid-commit.
func (p pgBank) terminate(t *testing.T) int64 {
	return p.exec(t, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid != pg_backend_pid()`, p.app)
}

// bankArgs are a bank run's worker flags.
func bankArgs(b backend, seed uint64, pays, waits int, extra ...string) []string {
	args := append([]string{"-seed", fmt.Sprint(seed), "-pays", fmt.Sprint(pays), "-waits", fmt.Sprint(waits),
		"-lease", "1s"}, b.args...)
	return append(args, extra...)
}

// checkBank loads every task of the plan (all must be done) and the
// world, and checks them with bank.Check.
func checkBank(t *testing.T, b backend, plan bank.Plan) bank.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := b.open(t)
	defer st.Close()
	results := map[string]bank.Result{}
	for _, id := range plan.IDs {
		rec, _, err := st.Load(ctx, id)
		require.NoError(t, err)
		require.Equal(t, task.Done, rec.Status, "task %s: %s", id, rec.Reason)
		require.NoError(t, rec.Journal.Validate(), "journal of %s", id)
		var r bank.Result
		require.NoError(t, task.Unmarshal(rec.Result, &r), "result of %s", id)
		results[id] = r
	}
	snap, err := st.World(ctx)
	require.NoError(t, err)
	stored := map[string][2]uint64{}
	for _, v := range snap.Vars {
		var n int
		require.NoError(t, task.Unmarshal(v.Value, &n), "world var %s", v.Name)
		stored[v.Name] = [2]uint64{uint64(int64(n)), v.Version}
	}
	rep := bank.Check(results, stored)
	for _, p := range rep.Problems {
		t.Error(p)
	}
	require.Zero(t, rep.Lost, "transfers lost")
	require.Zero(t, rep.Doubled, "transfers doubled")
	return rep
}

// waitDone waits until every task of the plan is done, then kills the
// workers and checks that none of them failed.
func waitDone(t *testing.T, b backend, plan bank.Plan, ws ...*proc) {
	t.Helper()
	st := b.viewer()(t)
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := poll.Until(ctx, func() (bool, error) {
		for _, w := range ws {
			if out := w.failed(); out != "" {
				return false, fmt.Errorf("a worker failed:\n%s", out)
			}
		}
		n, err := st.Counts(ctx, store.Filter{})
		return n[task.Done] == len(plan.IDs), err
	})
	if err != nil {
		n, _ := st.Counts(context.Background(), store.Filter{})
		t.Fatalf("waiting for the %d tasks to be done (%v): %v", len(plan.IDs), n, err)
	}
	for _, w := range ws {
		w.kill()
		require.Empty(t, w.failed())
	}
}

// TestBankPostgres: three workers on one PostgreSQL database run random
// transfers and Retry waiters (served by providers that run anywhere),
// killed and restarted at seeded moments, their backends terminated
// mid-commit; then everything is checked against a serial replay.
func TestBankPostgres(t *testing.T) {
	t.Parallel() // most of a run is waiting: the four bank tests overlap
	runs := envInt(t, "AMBER_BANK_RUNS", 1)
	kills := envInt(t, "AMBER_BANK_KILLS", 5)
	pays := envInt(t, "AMBER_BANK_PAYS", 50)
	waits := envInt(t, "AMBER_BANK_WAITS", 5)
	const workers = 3
	bin := build(t, "bankworker", false)
	seed := crashSeed(t)
	var tot struct{ kills, terminated, tasks, moved, lost, doubled int }
	for run := range runs {
		b := newPGBank(t)
		rng := rand.New(rand.NewPCG(seed, uint64(run)))
		planSeed := rng.Uint64()
		args := bankArgs(b.backend, planSeed, pays, waits, "-await=false")
		ws := make([]*proc, workers)
		for i := range ws {
			ws[i] = start(t, bin, append(args, "-owner", fmt.Sprintf("w%d", i))...)
		}
		ws[0].printed(t, "CREATED")
		for k := range kills {
			time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond) // a seeded moment, not a wait
			if k%2 == 1 {
				tot.terminated += int(b.terminate(t))
			}
			i := rng.IntN(workers)
			if ws[i].kill() {
				tot.kills++
			}
			if out := ws[i].failed(); out != "" {
				t.Fatalf("worker w%d failed:\n%s", i, out)
			}
			ws[i] = start(t, bin, append(args, "-owner", fmt.Sprintf("w%d.%d", i, k))...)
		}
		plan := bank.NewPlan(planSeed, pays, waits)
		waitDone(t, b.backend, plan, ws...)
		rep := checkBank(t, b.backend, plan)
		tot.tasks += rep.Transfers
		tot.moved += rep.Moved
		tot.lost += rep.Lost
		tot.doubled += rep.Doubled
	}
	t.Logf("runs %d, workers %d, kills %d, backends terminated %d, tasks %d (%d moved money), lost %d, doubled %d",
		runs, workers, tot.kills, tot.terminated, tot.tasks, tot.moved, tot.lost, tot.doubled)
}

// TestBankLateCommitPostgres makes the late-commit race deterministic:
// the test holds the world table's lock, so that a worker's world commit
// waits inside PostgreSQL with its COMMIT already sent; the worker is
// killed and started again (its successor loads the world without that
// commit), and then the lock is released: the dead worker's commit lands
// late, and the successor's commits, which read the world before it, are
// refused as stale and run again. No transfer is lost.
func TestBankLateCommitPostgres(t *testing.T) {
	t.Parallel() // most of a run is waiting: the four bank tests overlap
	b := newPGBank(t)
	bin := build(t, "bankworker", false)
	seed := crashSeed(t)
	const pays, waits = 24, 2
	args := bankArgs(b.backend, seed, pays, waits, "-await=false")
	b.open(t).Close() // the schema, migrated

	// The world table is locked before the first worker starts: its
	// first world commit waits.
	conn, err := pgx.Connect(context.Background(), b.url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	ctx := context.Background()
	_, err = conn.Exec(ctx, `BEGIN`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `LOCK TABLE `+pgx.Identifier{b.schema, "world"}.Sanitize()+` IN EXCLUSIVE MODE`)
	require.NoError(t, err)
	first := start(t, bin, append(args, "-owner", "first")...)
	// pg_stat_activity is read on a connection of its own: within a
	// transaction it is one snapshot, taken at its first read.
	mon, err := pgx.Connect(ctx, b.url)
	require.NoError(t, err)
	defer mon.Close(ctx)
	var pid int64
	poll.Eventually(t, func() (bool, error) {
		err := mon.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1
			AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO world%' LIMIT 1`, b.app).Scan(&pid)
		if err == pgx.ErrNoRows {
			return false, nil
		}
		return err == nil, err
	}, "a world commit of the first worker to wait for the world table")
	require.True(t, first.kill())
	second := start(t, bin, append(args, "-owner", "second")...)
	second.printed(t, "STARTED") // it has loaded the world, without the late commit
	var waiting bool
	require.NoError(t, mon.QueryRow(ctx, `SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'`, pid).Scan(&waiting))
	require.True(t, waiting, "the dead worker's commit still waits for the lock")
	_, err = conn.Exec(ctx, `ROLLBACK`) // release: the late commit lands
	require.NoError(t, err)
	plan := bank.NewPlan(seed, pays, waits)
	waitDone(t, b.backend, plan, second)
	rep := checkBank(t, b.backend, plan)
	t.Logf("tasks %d (%d moved money), lost %d, doubled %d", rep.Transfers, rep.Moved, rep.Lost, rep.Doubled)
}

// TestBankRetryFailoverPostgres: the waiters wait (Retry) on a worker
// that is then killed and never restarted; the providers run on another
// worker, whose deposits must wake the waiters there (the waits live in
// the store, not in the dead worker's memory).
func TestBankRetryFailoverPostgres(t *testing.T) {
	t.Parallel() // most of a run is waiting: the four bank tests overlap
	b := newPGBank(t)
	bin := build(t, "bankworker", false)
	seed := crashSeed(t)
	const pays, waits = 0, 4
	args := bankArgs(b.backend, seed, pays, waits, "-await=false")
	doomed := start(t, bin, append(args, "-owner", "doomed", "-create", "wait")...)
	doomed.printed(t, "CREATED")
	st := b.open(t)
	plan := bank.NewPlan(seed, pays, waits)
	poll.Eventually(t, func() (bool, error) {
		for _, id := range plan.IDs {
			if !strings.HasPrefix(id, "wait-") {
				continue
			}
			s, err := st.Status(context.Background(), id)
			if err != nil || s != task.Waiting {
				return false, err
			}
		}
		return true, nil
	}, "every waiter to wait")
	st.Close()
	require.True(t, doomed.kill())
	survivor := start(t, bin, append(args, "-owner", "survivor", "-create", "give")...)
	waitDone(t, b.backend, plan, survivor)
	checkBank(t, b.backend, plan)
}

// TestBankSQLite: one worker on a SQLite file, with a small cache (the
// waiters are evicted while they wait), killed and restarted at seeded
// moments; a second worker process started beside it is refused.
func TestBankSQLite(t *testing.T) {
	t.Parallel() // most of a run is waiting: the four bank tests overlap
	b := sqliteBackend(t)
	kills := envInt(t, "AMBER_BANK_KILLS", 4)
	pays := envInt(t, "AMBER_BANK_PAYS", 120)
	waits := envInt(t, "AMBER_BANK_WAITS", 8)
	bin := build(t, "bankworker", false)
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	args := bankArgs(b, seed, pays, waits, "-cache", "4", "-await=false")
	w := start(t, bin, args...)
	w.printed(t, "CREATED")
	second := start(t, bin, args...)
	<-second.done
	require.Error(t, second.err, "a second worker process on the file")
	require.Contains(t, second.output(), "is in use by", "the second worker is refused with an error naming the holder")
	n := 0
	for range kills {
		time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond) // a seeded moment, not a wait
		if w.kill() {
			n++
		}
		require.Empty(t, w.failed())
		w = start(t, bin, args...)
	}
	plan := bank.NewPlan(seed, pays, waits)
	waitDone(t, b, plan, w)
	rep := checkBank(t, b, plan)
	t.Logf("kills %d, tasks %d (%d moved money), lost %d, doubled %d", n, rep.Transfers, rep.Moved, rep.Lost, rep.Doubled)
}

// BenchmarkWorldTransfersPostgres: a plan of random transfers among the
// six pool accounts (contended: every transfer conflicts with a sixth of
// the others), run by 1, 2 and 4 worker processes on one PostgreSQL
// database with one STM world. It reports transfers per second, conflict
// retries per transfer (transaction runs beyond one per transfer, counted
// by the workers), and, beside them, the single-worker figure of the same
// plan measured in the same iteration (baseline-tx/s) and the ratio. Each
// iteration runs AMBER_BENCH_TRANSFERS transfers (default 300).
func BenchmarkWorldTransfersPostgres(b *testing.B) {
	bin := build(b, "bankworker", false)
	n := envInt(b, "AMBER_BENCH_TRANSFERS", 300)
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var tx, base, retries float64
			for i := range b.N {
				rate, r := transferRun(b, bin, uint64(i), n, workers)
				tx += rate
				retries += r
				if workers == 1 {
					base += rate
				} else {
					rate, _ := transferRun(b, bin, uint64(i), n, 1)
					base += rate
				}
			}
			b.ReportMetric(tx/float64(b.N), "tx/s")
			b.ReportMetric(retries/float64(b.N), "retries/tx")
			b.ReportMetric(base/float64(b.N), "baseline-tx/s")
			b.ReportMetric(tx/base, "x-vs-1worker")
		})
	}
}

// transferRun creates n transfers in a fresh schema, runs them with k
// worker processes, and returns the transfers per second (from the first
// worker's start to the last one's end) and the conflict retries per
// transfer.
func transferRun(b *testing.B, bin string, seed uint64, n, k int) (rate, retries float64) {
	b.StopTimer()
	defer b.StartTimer()
	pg := newPGBank(b)
	plan := bank.NewPlan(seed, n, 0)
	st := pg.open(b)
	// Open with this store created the schema; the workers find it.
	recs := make([]*task.Record, len(plan.IDs))
	for i := range recs {
		var err error
		recs[i], err = plan.Record(i, time.Now())
		require.NoError(b, err)
	}
	require.NoError(b, st.Create(context.Background(), recs...))
	st.Close()
	args := bankArgs(pg.backend, seed, n, 0, "-create", "")
	ws := make([]*proc, k)
	begin := time.Now()
	for i := range ws {
		ws[i] = start(b, bin, append(args, "-owner", fmt.Sprintf("b%d", i))...)
	}
	attempts := 0
	for _, w := range ws {
		select {
		case <-w.done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("a worker did not finish:\n%s", w.output())
		}
		out := w.output()
		require.Contains(b, out, "ALL DONE", "worker exited with %v", w.err)
		_, stats, _ := strings.Cut(out, "ATTEMPTS ")
		a, err := strconv.Atoi(strings.TrimSpace(stats))
		require.NoError(b, err, "%s", out)
		attempts += a
	}
	elapsed := time.Since(begin)
	return float64(n) / elapsed.Seconds(), float64(attempts-n) / float64(n)
}

// BenchmarkRecoveryAfterKill: a worker is killed with SIGKILL while an
// activity attempt runs, and started again at once; the recovery delay is
// the time from the kill to the journal entry of the attempt the new
// worker runs again (its timestamp). Beside it, the restart alone: from
// the kill to the new worker's start (the world loaded, claiming).
// SQLite runs with the default lease and activity timeout (the restarted
// worker holds the file's lock, so it takes its dead predecessor's
// attempts over at once); PostgreSQL with a lease and activity timeout of
// AMBER_RECOVERY_LEASE (default 1s): a PostgreSQL worker cannot tell a
// dead peer from a slow one, and waits out the attempt's timeout.
func BenchmarkRecoveryAfterKill(b *testing.B) {
	bin := build(b, "bankworker", false)
	lease := os.Getenv("AMBER_RECOVERY_LEASE")
	if lease == "" {
		lease = "1s"
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			var recovery, restart time.Duration
			for range b.N {
				var be backend
				args := []string{"-lease", "0"}
				if kind == "sqlite" {
					be = sqliteBackend(b)
				} else {
					be = newPGBank(b).backend
					args = []string{"-lease", lease}
				}
				rec, rst := recoveryRun(b, bin, be, args)
				recovery += rec
				restart += rst
			}
			b.ReportMetric(float64(recovery.Milliseconds())/float64(b.N), "recovery-ms")
			b.ReportMetric(float64(restart.Milliseconds())/float64(b.N), "restart-ms")
			b.ReportMetric(float64(recovery)/float64(restart), "x-restart")
		})
	}
}

// recoveryRun runs one kill during an activity and returns the recovery
// delay and the restart time.
func recoveryRun(b *testing.B, bin string, be backend, args []string) (recovery, restart time.Duration) {
	marker := filepath.Join(b.TempDir(), "hold.marker")
	args = append(append(args, be.args...), "-hold", marker)
	w := start(b, bin, args...)
	poll.Eventually(b, func() (bool, error) {
		_, err := os.Stat(marker)
		return err == nil, nil
	}, "the first attempt to start")
	w.kill()
	killed := time.Now()
	w = start(b, bin, args...)
	w.printed(b, "STARTED")
	restart = time.Since(killed)
	st := be.viewer()(b)
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	require.NoError(b, poll.Until(ctx, func() (bool, error) {
		s, err := st.Status(ctx, "hold")
		return s == task.Done, err
	}))
	w.kill()
	rec, _, err := st.Load(ctx, "hold")
	require.NoError(b, err)
	require.NotEmpty(b, rec.Journal)
	return rec.Journal[len(rec.Journal)-1].Time.Sub(killed), restart
}
