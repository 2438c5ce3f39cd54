package sqlite_test

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// The helper process: a worker that opens the store named by
// AMBER_SQLITE_HOLD, does what AMBER_SQLITE_DO says, prints "held", and
// keeps the store open until its stdin closes (or it is killed).
func TestMain(m *testing.M) {
	if path := os.Getenv("AMBER_SQLITE_HOLD"); path != "" {
		os.Exit(holdStore(path, os.Getenv("AMBER_SQLITE_DO")))
	}
	code := m.Run()
	if listDB.dir != "" {
		os.RemoveAll(listDB.dir)
	}
	os.Exit(code)
}

func holdStore(path, do string) int {
	s, err := sqlite.Open(path, nil)
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	if do == "attempt" {
		// A task whose activity attempt is running here, under a kept
		// lease of an hour: what a SIGKILL leaves behind.
		if err := runningAttempt(s, "busy"); err != nil {
			fmt.Println("attempt:", err)
			return 1
		}
	}
	fmt.Println("held")
	bufio.NewReader(os.Stdin).ReadString('\n')
	s.Close()
	return 0
}

// runningAttempt creates task id and commits a step that keeps its lease
// for an hour while an activity attempt runs.
func runningAttempt(s store.Store, id string) error {
	if err := s.Create(bg, storetest.NewRecord(id)); err != nil {
		return err
	}
	l, err := s.ClaimID(bg, "dead", id, storetest.T0, time.Hour)
	if err != nil {
		return err
	}
	st := store.Step{ID: id, Owner: "dead", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting, Keep: true,
		Wait: &task.Wait{Kind: task.WaitActivity, Ops: []task.OpState{{Fiber: 0, Kind: "x.Charge", Fingerprint: 1,
			Attempt: 1, Phase: task.PhaseRunning, Started: storetest.T0}}},
		RunAt: storetest.T0.Add(time.Hour)}
	errs, err := s.Commit(bg, []store.Step{st})
	if err == nil {
		err = errs[0]
	}
	return err
}

// holder starts a helper process holding the store at path, and returns it
// once it holds it.
func holder(t *testing.T, path, do string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AMBER_SQLITE_HOLD="+path, "AMBER_SQLITE_DO="+do)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "held\n" {
		t.Fatalf("helper process: %q, %v", line, err)
	}
	return cmd
}

// TestLockSameProcess: a second worker Open of a file, from the same
// process, fails with an error naming the file and the holder; once the
// first closes, the file opens.
func TestLockSameProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(path, nil)
	var le *sqlite.LockedError
	if !errors.Is(err, sqlite.ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	for _, want := range []string{path, fmt.Sprintf("pid %d", os.Getpid()), "one worker process", "postgres"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Open: %q, want it to say %q", err, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	s2.Close()
}

// TestLockOtherProcess: while another process works on the file, a worker
// Open here fails, naming that process; a client and a read-only store
// work beside it; once it exits, the file opens.
func TestLockOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	cmd := holder(t, path, "attempt")
	_, err := sqlite.Open(path, nil)
	if !errors.Is(err, sqlite.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d on host", cmd.Process.Pid)) ||
		!strings.Contains(err.Error(), path) {
		t.Fatalf("Open beside another worker process: %v, want ErrLocked naming the file and pid %d", err, cmd.Process.Pid)
	}
	t.Logf("refused: %v", err)
	ro, err := sqlite.Open(path, &sqlite.Options{Mode: sqlite.ModeReadOnly})
	if err != nil {
		t.Fatalf("read-only Open beside the worker: %v", err)
	}
	defer ro.Close()
	if st, err := ro.Status(bg, "busy"); err != nil || st != task.Waiting {
		t.Errorf("read-only Status of the worker's task = %q, %v", st, err)
	}
	cl, err := sqlite.Open(path, &sqlite.Options{Mode: sqlite.ModeClient})
	if err != nil {
		t.Fatalf("client Open beside the worker: %v", err)
	}
	defer cl.Close()
	if err := cl.Send(bg, "busy", storetest.NewEnvelope("from a client")); err != nil {
		t.Errorf("client Send beside the worker: %v", err)
	}
	if ms, err := ro.Messages(bg, "busy", 0); err != nil || len(ms) != 1 {
		t.Errorf("read-only Messages after the client's Send = %v, %v", ms, err)
	}
	if _, err := cl.Claim(bg, "w", 1, storetest.T0, time.Minute); !errors.Is(err, sqlite.ErrNotWorker) {
		t.Errorf("client Claim: %v, want ErrNotWorker", err)
	}
}

// TestTakeOverAfterKill: a worker process is killed (SIGKILL) while an
// activity attempt runs under its kept lease of an hour. The next worker
// opens the file at once (the kernel released the lock with the process)
// and, knowing its predecessor dead, makes the task ready: claimed at the
// same instant, not an hour later.
func TestTakeOverAfterKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	cmd := holder(t, path, "attempt")
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatalf("Open after the worker was killed: %v", err)
	}
	defer s.Close()
	if n := s.TookOver(); n != 1 {
		t.Errorf("TookOver = %d, want 1", n)
	}
	ls, err := s.Claim(bg, "next", 10, storetest.T0, time.Minute)
	if err != nil || len(ls) != 1 || ls[0].ID != "busy" {
		t.Fatalf("Claim at the dead worker's own clock = %v, %v; want busy at once", ls, err)
	}
	r, _, err := s.Load(bg, "busy")
	if err != nil || r.Wait == nil || r.Wait.Ops[0].Phase != task.PhaseRunning {
		t.Errorf("Load(busy) = %+v, %v; want the running attempt kept in its wait, to run again", r, err)
	}
}

// TestTakeOver: the tasks of a worker that stopped without committing
// them are ready when the next one opens the file: those claimed and not
// committed, those under a kept lease, and those whose attempt was
// running after the lease was released; not the others.
func TestTakeOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := runningAttempt(s, "kept"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"claimed", "released", "waiting", "done"} {
		if err := s.Create(bg, storetest.NewRecord(id)); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := s.Claim(bg, "dead", 10, storetest.T0, time.Hour)
	if err != nil || len(ls) != 4 {
		t.Fatal(ls, err)
	}
	for _, l := range ls {
		st := store.Step{ID: l.ID, Owner: "dead", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting}
		switch l.ID {
		case "claimed":
			continue
		case "released":
			st.Wait = &task.Wait{Kind: task.WaitActivity, Ops: []task.OpState{{Kind: "x.Charge", Attempt: 2, Phase: task.PhaseRunning}}}
			st.RunAt = storetest.T0.Add(time.Hour)
		case "done":
			st.Status = task.Done
		}
		if errs, err := s.Commit(bg, []store.Step{st}); err != nil || errs[0] != nil {
			t.Fatal(errs, err)
		}
	}
	s.Close()
	s, err = sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ls, err = s.Claim(bg, "next", 10, storetest.T0, time.Minute)
	var got []string
	for _, l := range ls {
		got = append(got, l.ID)
	}
	if err != nil || strings.Join(got, " ") != "kept claimed released" || s.TookOver() != 3 {
		t.Errorf("Claim after taking over = %v, %v (took over %d); want kept, claimed, released", got, err, s.TookOver())
	}
}

// TestReadOnlyMode: a read-only store reads beside the worker and sees its
// commits, refuses every write, never creates a file or a schema, says
// clearly what is wrong with a file that is not an amber database, and
// leaves no file of its own behind.
func TestReadOnlyMode(t *testing.T) {
	dir := t.TempDir()
	ro := func(path string) (*sqlite.Store, error) {
		return sqlite.Open(path, &sqlite.Options{Mode: sqlite.ModeReadOnly})
	}
	missing := filepath.Join(dir, "typo.db")
	for _, mode := range []sqlite.Mode{sqlite.ModeReadOnly, sqlite.ModeClient} {
		if _, err := sqlite.Open(missing, &sqlite.Options{Mode: mode}); err == nil || !strings.Contains(err.Error(), "never creates") {
			t.Errorf("%v Open of a missing file: %v, want an error saying so", mode, err)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a read-only Open of a missing file created it: %v", err)
	}
	// Not amber databases: bytes, an empty file, another program's SQLite.
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o644)
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o644)
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE users (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, path := range []string{junk, empty, other} {
		_, err := ro(path)
		if !errors.Is(err, sqlite.ErrNotAmber) || !strings.Contains(err.Error(), path) {
			t.Errorf("read-only Open of %s: %v, want ErrNotAmber naming the file", filepath.Base(path), err)
		}
	}
	var tables int
	db, _ = sql.Open("sqlite", other)
	db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&tables)
	db.Close()
	if tables != 1 {
		t.Errorf("a read-only Open made a schema: %d tables", tables)
	}

	path := filepath.Join(dir, "amber.db")
	w, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ro(path)
	if err != nil {
		t.Fatalf("read-only Open beside the worker: %v", err)
	}
	if err := w.Create(bg, storetest.NewRecord("a")); err != nil {
		t.Fatal(err)
	}
	if st, err := r.Status(bg, "a"); err != nil || st != task.Running {
		t.Errorf("read-only Status of a task the worker created = %q, %v", st, err)
	}
	for name, err := range map[string]error{
		"Create": r.Create(bg, storetest.NewRecord("b")),
		"Send":   r.Send(bg, "a", storetest.NewEnvelope("m")),
		"Wake":   r.Wake(bg, "a"),
		"Cancel": r.Cancel(bg, "a"),
	} {
		if !errors.Is(err, sqlite.ErrReadOnly) {
			t.Errorf("read-only %s: %v, want ErrReadOnly", name, err)
		}
	}
	if _, err := r.Claim(bg, "w", 1, storetest.T0, time.Minute); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Errorf("read-only Claim: %v, want ErrReadOnly", err)
	}
	if _, err := r.Commit(bg, []store.Step{{}}); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Errorf("read-only Commit: %v, want ErrReadOnly", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Alone, a read-only store leaves the directory as it found it.
	before := dirNames(t, dir)
	r, err = ro(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Load(bg, "a"); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if after := dirNames(t, dir); after != before {
		t.Errorf("files before a read-only Open [%s], after its Close [%s]", before, after)
	}
}

func dirNames(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}
