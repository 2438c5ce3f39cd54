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

// buildWorker compiles the worker once per test binary run.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/amberrt/amber/internal/crashtest/worker").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

type backend struct {
	args []string
	open func(t *testing.T) store.Store
}

func sqliteBackend(t *testing.T) backend {
	path := filepath.Join(t.TempDir(), "amber.db")
	return backend{
		args: []string{"-db", path},
		open: func(t *testing.T) store.Store {
			st, err := sqlite.Open(path, nil)
			require.NoError(t, err)
			return st
		},
	}
}

func postgresBackend(t *testing.T) backend {
	url := os.Getenv("AMBER_TEST_POSTGRES")
	if url == "" {
		t.Skip("set AMBER_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL crash tests")
	}
	schema := fmt.Sprintf("crash_%x", rand.Uint64())
	open := func(t *testing.T) store.Store {
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
	seed := rand.Uint64()
	if s := os.Getenv("AMBER_CRASH_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (rerun with AMBER_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	bin := buildWorker(t)
	keys := filepath.Join(t.TempDir(), "keys.log")
	args := append([]string{"-tasks", fmt.Sprint(tasks), "-keys", keys, "-lease", "1s"}, b.args...)

	kills := 0
	for range 4 {
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
			kills++
		}
		_ = cmd.Wait()
		if strings.Contains(out.String(), "worker:") {
			t.Fatalf("worker failed:\n%s", out.String())
		}
	}
	t.Logf("killed the worker %d times", kills)
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
		v, ok := world[job.AccountName(i)]
		if !ok {
			sum += job.Initial
			continue
		}
		var n int
		require.NoError(t, task.Unmarshal(v, &n))
		sum += n
	}
	require.Equal(t, job.Accounts*job.Initial, sum, "the STM total is conserved")
}

// TestFailoverPostgres runs two workers on one database and kills one of
// them mid-run: the other takes over its tasks when their leases expire
// and finishes everything.
func TestFailoverPostgres(t *testing.T) {
	b := postgresBackend(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
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
