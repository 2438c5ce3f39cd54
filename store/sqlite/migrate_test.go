package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// TestMigrateFromVersion1 opens a file made by the first schema, with a
// task and a message in it: the task keeps them, and gains process state.
func TestMigrateFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`PRAGMA journal_mode = WAL`, schema, `PRAGMA user_version = 1`,
		`INSERT INTO tasks (id, program, program_version, status, ready) VALUES ('old', 'p', 1, 'running', 1)`,
		`INSERT INTO mailbox (task_id, seq, envelope) VALUES ('old', 1, x'a2016173024100')`,
		`UPDATE tasks SET msg_seq = 1`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open of a version 1 file: %v", err)
	}
	defer s.Close()
	var v int
	if err := s.rdb.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Errorf("user_version = %d, %v; want %d", v, err, schemaVersion)
	}
	ctx := context.Background()
	rec, msgs, err := s.Load(ctx, "old")
	if err != nil || rec.Trap || rec.Name != "" || len(msgs) != 1 || msgs[0].Env.Type != "s" {
		t.Fatalf("Load(old) = %+v, %v, %v", rec, msgs, err)
	}
	if err := s.Create(ctx, storetest.NewRecord("new")); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Claim(ctx, "w", 10, storetest.T0, 60e9)
	if err != nil || len(ls) != 2 {
		t.Fatalf("Claim = %v, %v", ls, err)
	}
	steps := make([]store.Step, 2)
	for i, l := range ls {
		steps[i] = store.Step{ID: l.ID, Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting}
	}
	steps[0].Proc = []store.ProcOp{{Kind: store.ProcLink, Peer: ls[1].ID}, {Kind: store.ProcRegister, Name: "svc"}}
	steps[1].Status, steps[1].Exit = task.Failed, "boom"
	errs, err := s.Commit(ctx, steps)
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("Commit = %v, %v", errs, err)
	}
	if id, err := s.WhereIs(ctx, "svc"); err != nil || id != ls[0].ID {
		t.Errorf("WhereIs(svc) = %q, %v", id, err)
	}
	msgs, err = s.Messages(ctx, ls[0].ID, 0)
	if err != nil || len(msgs) == 0 || msgs[len(msgs)-1].Env.Type != task.SignalType {
		t.Errorf("after its link ended, %s has %s", ls[0].ID, fmt.Sprint(msgs))
	}
}
