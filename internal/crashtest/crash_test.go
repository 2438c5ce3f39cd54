// Package crashtest kills a durable amber worker with SIGKILL at random
// moments, starts it again, and checks that nothing committed was lost and
// nothing was done twice.
package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amberrt/amber/internal/crashtest/job"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

const tasks = 40

// build compiles the worker binary of package pkg (under
// internal/crashtest), with the race detector if race is set.
func build(t testing.TB, pkg string, race bool) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), pkg)
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "github.com/amberrt/amber/internal/crashtest/"+pkg)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

func buildWorker(t *testing.T) string { return build(t, "worker", false) }

// crashSeed returns the seed of a test's kill times, from AMBER_CRASH_SEED
// if it is set, and logs it.
func crashSeed(t testing.TB) uint64 {
	seed := rand.Uint64()
	if s := os.Getenv("AMBER_CRASH_SEED"); s != "" {
		_, err := fmt.Sscan(s, &seed)
		require.NoError(t, err, "AMBER_CRASH_SEED")
	}
	t.Logf("seed %d (rerun with AMBER_CRASH_SEED=%d)", seed, seed)
	return seed
}

// killRuns starts bin with args n times and kills it with SIGKILL after a
// random time in [min, min+span) each time; a run that reports an error
// ("worker:") or a data race fails the test. It returns the kill times.
func killRuns(t *testing.T, bin string, args []string, rng *rand.Rand, n int, min, span time.Duration) []time.Duration {
	t.Helper()
	var kills []time.Duration
	for range n {
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		after := min + time.Duration(rng.Int64N(int64(span)))
		time.Sleep(after)
		if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
			kills = append(kills, after)
		}
		_ = cmd.Wait()
		if strings.Contains(out.String(), "worker:") || strings.Contains(out.String(), "DATA RACE") {
			t.Fatalf("worker failed:\n%s", out.String())
		}
	}
	return kills
}

type backend struct {
	args []string
	open func(t testing.TB) store.Store
	// view opens the store beside a running worker (SQLite: read-only);
	// nil: open.
	view func(t testing.TB) store.Store
}

// viewer returns view, or open if the store has no other way.
func (b backend) viewer() func(t testing.TB) store.Store {
	if b.view != nil {
		return b.view
	}
	return b.open
}

func sqliteBackend(t testing.TB) backend {
	path := filepath.Join(t.TempDir(), "amber.db")
	return backend{
		args: []string{"-db", path},
		open: func(t testing.TB) store.Store {
			st, err := sqlite.Open(path, nil)
			require.NoError(t, err)
			return st
		},
		view: func(t testing.TB) store.Store {
			st, err := sqlite.Open(path, &sqlite.Options{Mode: sqlite.ModeReadOnly})
			require.NoError(t, err)
			return st
		},
	}
}

func postgresBackend(t testing.TB) backend {
	url := os.Getenv("AMBER_TEST_POSTGRES")
	if url == "" {
		t.Skip("set AMBER_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL crash tests")
	}
	schema := fmt.Sprintf("crash_%x", rand.Uint64())
	open := func(t testing.TB) store.Store {
		st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema})
		require.NoError(t, err)
		return st
	}
	t.Cleanup(func() {
		st := open(t)
		defer st.Close()
		dropSchema(t, url, schema)
	})
	return backend{args: []string{"-postgres", url, "-schema", schema}, open: open}
}

func TestCrashTortureSQLite(t *testing.T) { torture(t, sqliteBackend(t)) }

func TestCrashTorturePostgres(t *testing.T) { torture(t, postgresBackend(t)) }

// torture starts the worker, kills it with SIGKILL at seeded random
// moments several times, lets it finish, and checks the outcome.
func torture(t *testing.T, b backend) {
	rng := rand.New(rand.NewPCG(crashSeed(t), 0))
	bin := buildWorker(t)
	keys := filepath.Join(t.TempDir(), "keys.log")
	args := append([]string{"-tasks", fmt.Sprint(tasks), "-keys", keys, "-lease", "1s"}, b.args...)

	kills := killRuns(t, bin, args, rng, 4, 50*time.Millisecond, 400*time.Millisecond)
	t.Logf("killed the worker %d times", len(kills))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "ALL DONE")

	verify(t, ctx, b, keys)
}

// verify checks the outcome of a run: every task done, every journal
// gap-free, every activity's effect present once per journaled op (by
// key), the STM total conserved.
func verify(t *testing.T, ctx context.Context, b backend, keys string) {
	st := b.open(t)
	defer st.Close()
	logged := readKeys(t, keys)
	total := 0
	for i := range tasks {
		rec, _, err := st.Load(ctx, job.TaskID(i))
		require.NoError(t, err)
		require.Equal(t, task.Done, rec.Status, "task %s: %s", rec.ID, rec.Reason)
		require.NoError(t, rec.Journal.Validate(), "journal of %s is gap-free without duplicates", rec.ID)
		appends := 0
		for _, en := range rec.Journal {
			if !strings.HasSuffix(en.Kind, "AppendKey") {
				continue
			}
			appends++
			var key string
			require.NoError(t, task.Unmarshal(en.Result, &key))
			require.Positive(t, logged[key], "the effect of %s entry %d (key %s) is in the file", rec.ID, en.Seq, key)
		}
		require.Equal(t, 3, appends, "task %s called its activity three times", rec.ID)
		total += appends
	}
	distinct := 0
	for range logged {
		distinct++
	}
	require.Equal(t, total, distinct, "every effect in the file belongs to a journaled op: deduplicated by key, nothing extra")

	world, err := st.World(ctx)
	require.NoError(t, err)
	sum := 0
	for i := range job.Accounts {
		v, ok := world.Lookup(job.AccountName(i))
		if !ok {
			sum += job.Initial
			continue
		}
		var n int
		require.NoError(t, task.Unmarshal(v.Value, &n))
		sum += n
	}
	require.Equal(t, job.Accounts*job.Initial, sum, "the STM total is conserved")
}

// TestFailoverPostgres runs two workers on one database and kills one of
// them mid-run: the other takes over its tasks when their leases expire
// and finishes everything.
func TestFailoverPostgres(t *testing.T) {
	b := postgresBackend(t)
	rng := rand.New(rand.NewPCG(crashSeed(t), 1))
	bin := buildWorker(t)
	keys := filepath.Join(t.TempDir(), "keys.log")
	args := append([]string{"-tasks", fmt.Sprint(tasks), "-keys", keys, "-lease", "1s"}, b.args...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	doomed := exec.Command(bin, append(args, "-owner", "doomed")...)
	require.NoError(t, doomed.Start())
	survivor := exec.CommandContext(ctx, bin, append(args, "-owner", "survivor")...)
	var out bytes.Buffer
	survivor.Stdout, survivor.Stderr = &out, &out
	require.NoError(t, survivor.Start())
	time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
	require.NoError(t, doomed.Process.Signal(syscall.SIGKILL))
	_ = doomed.Wait()
	require.NoError(t, survivor.Wait(), "%s", out.String())
	require.Contains(t, out.String(), "ALL DONE")
	verify(t, ctx, b, keys)
}

func readKeys(t *testing.T, path string) map[string]int {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	keys := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			keys[line]++
		}
	}
	require.NoError(t, sc.Err())
	return keys
}
