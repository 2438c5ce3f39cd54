package postgres_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// claimStep creates task id, claims it and returns a step of it that
// finishes it, with a token.
func claimStep(t *testing.T, s *postgres.Store, id string) store.Step {
	t.Helper()
	if err := s.Create(bg, storetest.NewRecord(id)); err != nil {
		t.Fatal(err)
	}
	l, err := s.ClaimID(bg, "w", id, storetest.T0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return store.Step{ID: id, Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Token: store.NewToken(),
		Status: task.Done, Append: storetest.NewEntries(1, 2),
		World: []store.WorldWrite{{Name: "v-" + id, Value: mustEncode(t, 1)}}}
}

func landed(t *testing.T, s *postgres.Store, st store.Step) store.Outcome {
	t.Helper()
	o, err := s.Landed(bg, st)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestLandedBackendTerminated terminates the commit's backend from a
// second connection while its transaction is open: Commit fails, the step
// has not landed (the task is still at its step under its lease), and
// committed again it lands, once.
func TestLandedBackendTerminated(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	s := db.open(&postgres.Options{MaxConns: 2})
	st := claimStep(t, s, "a")
	postgres.SetBeforeCommit(s, func(context.Context) {
		db.exec(`SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'idle in transaction' AND pid <> pg_backend_pid()`, db.schema)
	})
	if _, err := s.Commit(bg, []store.Step{st}); err == nil {
		t.Fatal("Commit succeeded with its backend terminated mid-transaction")
	} else {
		t.Logf("Commit with its backend terminated: %v", err)
	}
	postgres.SetBeforeCommit(s, nil)
	if o := landed(t, s, st); o != store.NotLanded {
		t.Fatalf("Landed after the backend was terminated mid-commit = %v, want not landed", o)
	}
	if errs, err := s.Commit(bg, []store.Step{st}); err != nil || errs[0] != nil {
		t.Fatalf("Commit again = %v, %v", errs, err)
	}
	if o := landed(t, s, st); o != store.Landed {
		t.Errorf("Landed after committing again = %v, want landed", o)
	}
	if r, _, err := s.Load(bg, "a"); err != nil || len(r.Journal) != 2 || r.Status != task.Done {
		t.Errorf("a = %+v, %v; want done with 2 entries", r, err)
	}
}

// TestLandedReplyLost lets a commit's COMMIT land and cuts the connection
// before its reply reaches the client (a proxy between the store and the
// server swallows it): Commit fails, yet the step has landed, and Landed
// says so; committed again it is refused, and nothing is doubled. Steps
// without a task are resolved the same way.
func TestLandedReplyLost(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	p := newProxy(t, db.url)
	s := db.open(&postgres.Options{MaxConns: 1}, p.url)
	st := claimStep(t, s, "a")
	world := store.Step{Token: store.NewToken(), World: []store.WorldWrite{{Name: "solo", Value: mustEncode(t, 7)}}}
	for _, c := range []struct {
		name string
		step store.Step
	}{{"a task step", st}, {"a step without a task", world}} {
		postgres.SetBeforeCommit(s, func(context.Context) { p.cutAfterCommit.Store(true) })
		if _, err := s.Commit(bg, []store.Step{c.step}); err == nil {
			t.Fatalf("%s: Commit succeeded though its reply was cut", c.name)
		} else {
			t.Logf("%s: Commit whose reply was cut: %v", c.name, err)
		}
		postgres.SetBeforeCommit(s, nil)
		if o := landed(t, s, c.step); o != store.Landed {
			t.Errorf("%s: Landed after the COMMIT's reply was lost = %v, want landed", c.name, o)
		}
		errs, err := s.Commit(bg, []store.Step{c.step})
		if err != nil || errs[0] == nil {
			t.Errorf("%s: Commit again of a step that landed = %v, %v; want it refused", c.name, errs, err)
		}
	}
	if r, _, err := s.Load(bg, "a"); err != nil || len(r.Journal) != 2 || r.Status != task.Done {
		t.Errorf("a = %+v, %v; want done with 2 entries", r, err)
	}
	snap, _ := s.World(bg)
	if v, _ := snap.Lookup("solo"); v.Version != 1 {
		t.Errorf("solo at version %d, want 1: written once", v.Version)
	}
}

// proxy forwards connections to the PostgreSQL server. Armed
// (cutAfterCommit), it forwards nothing more from the server once the
// server has answered a COMMIT, and closes the connection when the server
// is ready for the next query: the transaction has committed, and the
// client never hears of it.
type proxy struct {
	url            string
	cutAfterCommit atomic.Bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := u.Host
	u.Host = ln.Addr().String()
	p := &proxy{url: u.String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			upstream, err := net.Dial("tcp", server)
			if err != nil {
				client.Close()
				continue
			}
			wg.Go(func() { io.Copy(upstream, client); upstream.Close() })
			wg.Go(func() { p.fromServer(client, upstream); client.Close(); upstream.Close() })
		}
	})
	return p
}

// fromServer forwards the server's messages (type byte, int32 length) to
// the client, until it is armed and sees a COMMIT through.
func (p *proxy) fromServer(client, upstream net.Conn) {
	var buf []byte
	chunk := make([]byte, 32<<10)
	armed, committed := false, false
	for {
		n, err := upstream.Read(chunk)
		if err != nil {
			return
		}
		buf = append(buf, chunk[:n]...)
		var out []byte
		for len(buf) >= 5 {
			size := int(binary.BigEndian.Uint32(buf[1:5])) + 1
			if len(buf) < size {
				break
			}
			msg := buf[:size]
			buf = buf[size:]
			if !armed && p.cutAfterCommit.CompareAndSwap(true, false) {
				armed = true
			}
			if armed && msg[0] == 'C' && string(msg[5:]) == "COMMIT\x00" {
				committed = true
			}
			if !committed {
				out = append(out, msg...)
			} else if msg[0] == 'Z' {
				client.Write(out)
				return // the COMMIT went through; its reply goes nowhere
			}
		}
		if len(out) > 0 {
			if _, err := client.Write(out); err != nil {
				return
			}
		}
	}
}

// TestExpiredLeaseFirst: a lease that expired (its worker died mid-step)
// is taken over by the first Claim after its expiry, ahead of any number
// of ready tasks and due timers: a worker that polls Claim every interval
// takes it within one interval.
func TestExpiredLeaseFirst(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	s := db.open(nil)
	if err := s.Create(bg, storetest.NewRecord("orphan")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimID(bg, "dead", "orphan", storetest.T0, time.Minute); err != nil {
		t.Fatal(err)
	}
	var recs []*task.Record
	for i := range 300 {
		recs = append(recs, storetest.NewRecord(fmt.Sprintf("ready%03d", i)))
	}
	if err := s.Create(bg, recs...); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Claim(bg, "w", 5, storetest.T0.Add(time.Minute+time.Nanosecond), time.Minute)
	if err != nil || len(ls) != 5 || ls[0].ID != "orphan" {
		t.Fatalf("first Claim after the lease expired = %v, %v; want orphan first", ls, err)
	}
}
