package crashtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/amberrt/amber/internal/pgtest"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// vproc is a running versionworker process.
type vproc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	ready  chan struct{}
	exited chan struct{}
}

// startWorker starts bin as worker name with args, and waits until it
// says it is ready (its first heartbeat is stored by then).
func startWorker(t *testing.T, bin, name string, args ...string) *vproc {
	t.Helper()
	p := &vproc{t: t, name: name, cmd: exec.Command(bin, args...), ready: make(chan struct{}), exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "AMBER_WORKER="+name)
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	p.cmd.Stderr = &vprocWriter{p}
	require.NoError(t, p.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			p.write(sc.Text() + "\n")
			if sc.Text() == "READY" {
				once.Do(func() { close(p.ready) })
			}
		}
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	select {
	case <-p.ready:
	case <-p.exited:
		t.Fatalf("worker %s exited before it was ready:\n%s", name, p.output())
	}
	return p
}

type vprocWriter struct{ p *vproc }

func (w *vprocWriter) Write(b []byte) (int, error) { w.p.write(string(b)); return len(b), nil }

func (p *vproc) write(s string) {
	p.mu.Lock()
	p.out.WriteString(s)
	p.mu.Unlock()
}

func (p *vproc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill kills the process with SIGKILL and waits for it.
func (p *vproc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// alive checks that the process is still up and said nothing of an error.
func (p *vproc) alive() {
	p.t.Helper()
	select {
	case <-p.exited:
		p.t.Fatalf("worker %s exited:\n%s", p.name, p.output())
	default:
	}
	if out := p.output(); strings.Contains(out, "panic") || strings.Contains(out, "worker:") {
		p.t.Fatalf("worker %s:\n%s", p.name, out)
	}
}

func waitAll(t *testing.T, st store.Store, ids []string, what string, ok func(*task.Record) bool) {
	t.Helper()
	poll.Eventually(t, func() (bool, error) {
		for _, id := range ids {
			rec, _, err := st.Load(context.Background(), id)
			if err != nil || !ok(rec) {
				return false, err
			}
		}
		return true, nil
	}, "%s: %v", what, ids)
}

func waitsForMessage(r *task.Record) bool { return r.Wait != nil && r.Wait.Kind == task.WaitReceive }

func result(t *testing.T, st store.Store, id string) string {
	t.Helper()
	rec, _, err := st.Load(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, task.Done, rec.Status, "%s: %s", id, rec.Reason)
	var s string
	require.NoError(t, task.Unmarshal(rec.Result, &s))
	return s
}

func sendAll(t *testing.T, st store.Store, ids []string, msg string) {
	t.Helper()
	data, err := task.Marshal(msg)
	require.NoError(t, err)
	for _, id := range ids {
		require.NoError(t, st.Send(context.Background(), id, task.Envelope{Type: "string", Data: data}))
	}
}

// TestVersionScenario is issue 10's scenario with real processes: 20
// tasks of renew v1 wait for a message; the worker is killed with
// SIGKILL; a build with a same-version edit (a log line before the
// activity in even tasks) starts: it stays up, the even tasks are parked
// as diverged at seq 1, the odd ones finish; the fixed build resumes the
// diverged ones, which finish.
func TestVersionScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs worker processes")
	}
	bin := build(t, "versionworker", false)
	db := filepath.Join(t.TempDir(), "amber.db")
	const n = 20
	ids := make([]string, n)
	var odd, even []string
	for i := range ids {
		ids[i] = fmt.Sprintf("renew-%d", i)
		if i%2 == 1 {
			odd = append(odd, ids[i])
		} else {
			even = append(even, ids[i])
		}
	}
	first := startWorker(t, bin, "w1", "-db", db, "-versions", "1", "-start", fmt.Sprint(n))
	st, err := sqlite.Open(db, &sqlite.Options{Mode: sqlite.ModeClient})
	require.NoError(t, err)
	defer st.Close()
	waitAll(t, st, ids, "every task waits for its message", waitsForMessage)
	first.kill()

	edited := startWorker(t, bin, "w2", "-db", db, "-versions", "1", "-edited")
	sendAll(t, st, ids, "go")
	waitAll(t, st, odd, "the odd tasks finish", func(r *task.Record) bool { return r.Status == task.Done })
	waitAll(t, st, even, "the even tasks diverge", func(r *task.Record) bool { return r.Status == task.Diverged })
	edited.alive()
	for _, id := range even {
		rec, _, err := st.Load(context.Background(), id)
		require.NoError(t, err)
		require.Contains(t, rec.Reason, "at seq 1", id)
		require.Contains(t, rec.Reason, "Where", id)
	}
	for _, id := range odd {
		require.Equal(t, "v1 w1 w2 go", result(t, st, id))
	}
	edited.kill()

	fixed := startWorker(t, bin, "w3", "-db", db, "-versions", "1")
	waitAll(t, st, even, "the fixed build finishes the diverged tasks", func(r *task.Record) bool { return r.Status == task.Done })
	for _, id := range even {
		require.Equal(t, "v1 w1 w3 go", result(t, st, id))
	}
	fixed.alive()
}

// TestVersionsSideBySide: three builds share one PostgreSQL store: one
// has renew v1 only, one v1 and v2, one v2 only. Each task runs only on
// workers that have its version; when the v1-only worker is killed, the
// v1 tasks go on on the v1+v2 worker.
func TestVersionsSideBySide(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs worker processes")
	}
	url, schema := pgtest.Schema(t, "versions")
	bin := build(t, "versionworker", false)
	pg := []string{"-postgres", url, "-schema", schema}
	const n = 6
	var v1, v2 []string
	for i := range n {
		v1 = append(v1, fmt.Sprintf("a-%d", i))
		v2 = append(v2, fmt.Sprintf("b-%d", i))
	}
	only1 := startWorker(t, bin, "w-v1", append(pg, "-versions", "1", "-start", fmt.Sprint(n), "-prefix", "a")...)
	both := startWorker(t, bin, "w-v12", append(pg, "-versions", "1,2")...)
	only2 := startWorker(t, bin, "w-v2", append(pg, "-versions", "2", "-start", fmt.Sprint(n), "-prefix", "b")...)
	st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema})
	require.NoError(t, err)
	defer st.Close()
	all := append(append([]string{}, v1...), v2...)
	waitAll(t, st, all, "every task waits for its message", waitsForMessage)
	for _, id := range all {
		rec, _, err := st.Load(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, map[bool]int{true: 1, false: 2}[strings.HasPrefix(id, "a")], rec.Version, id)
	}
	only1.kill()
	sendAll(t, st, all, "go")
	waitAll(t, st, all, "every task finishes", func(r *task.Record) bool { return r.Status.Final() })
	for _, id := range v1 {
		var first, second string
		_, err := fmt.Sscanf(result(t, st, id), "v1 %s %s go", &first, &second)
		require.NoError(t, err, id)
		require.Contains(t, []string{"w-v1", "w-v12"}, first, "%s ran on a worker without v1", id)
		require.Equal(t, "w-v12", second, "%s after the v1-only worker was killed", id)
	}
	for _, id := range v2 {
		var first, second string
		_, err := fmt.Sscanf(result(t, st, id), "v2 %s %s go", &first, &second)
		require.NoError(t, err, id)
		require.Contains(t, []string{"w-v12", "w-v2"}, first, "%s ran on a worker without v2", id)
		require.Contains(t, []string{"w-v12", "w-v2"}, second, "%s ran on a worker without v2", id)
	}
	both.alive()
	only2.alive()
}
