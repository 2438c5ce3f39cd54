package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// counter reads an int world var from a snapshot (0 if absent).
func counter(t testing.TB, v store.WorldValue) int {
	t.Helper()
	if v.Version == 0 {
		return 0
	}
	var n int
	if err := task.Unmarshal(v.Value, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := task.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWorldNoLostUpdate: workers on two stores (two processes) increment
// one var and move amounts between others, each a read-modify-write that
// runs again on the fresh rows of a StaleError. No increment is lost, the
// total of the accounts is conserved, and every snapshot a reader takes
// meanwhile (World, then WorldSince over it) is consistent: its accounts
// sum to the total.
func TestWorldNoLostUpdate(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	stores := []*postgres.Store{db.open(nil), db.open(nil)}
	const (
		workers, rounds = 6, 40
		accounts        = 4
		initial         = 100
	)
	var init []store.WorldWrite
	for i := range accounts {
		init = append(init, store.WorldWrite{Name: fmt.Sprintf("acct%d", i), Value: mustEncode(t, initial)})
	}
	if errs, err := stores[0].Commit(bg, []store.Step{{World: init}}); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	var (
		wg      sync.WaitGroup
		retries sync.Map
		stop    = make(chan struct{})
	)
	for w := range workers {
		s := stores[w%2]
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			snap, err := s.World(bg)
			if err != nil {
				t.Error(err)
				return
			}
			known := map[string]store.WorldValue{}
			for _, v := range snap.Vars {
				known[v.Name] = v
			}
			n := 0
			for done := 0; done < rounds; {
				from, to := fmt.Sprintf("acct%d", rng.IntN(accounts)), fmt.Sprintf("acct%d", rng.IntN(accounts))
				st := store.Step{World: []store.WorldWrite{
					{Name: "count", Value: mustEncode(t, counter(t, known["count"])+1), Prev: known["count"].Version},
				}}
				if from != to {
					amount := rng.IntN(10)
					st.World = append(st.World,
						store.WorldWrite{Name: from, Value: mustEncode(t, counter(t, known[from])-amount), Prev: known[from].Version},
						store.WorldWrite{Name: to, Value: mustEncode(t, counter(t, known[to])+amount), Prev: known[to].Version})
				}
				errs, err := s.Commit(bg, []store.Step{st})
				if err != nil {
					t.Error(err)
					return
				}
				var se *store.StaleError
				switch {
				case errs[0] == nil:
					for _, v := range st.World {
						known[v.Name] = store.WorldValue{Name: v.Name, Value: v.Value, Version: v.Prev + 1}
					}
					done++
				case errors.As(errs[0], &se):
					for _, v := range se.Fresh {
						known[v.Name] = v
					}
					n++
				default:
					t.Error(errs[0])
					return
				}
			}
			retries.Store(w, n)
		})
	}
	// A reader follows the world by WorldSince and checks every snapshot.
	var readerWG sync.WaitGroup
	snapshots := 0
	readerWG.Go(func() {
		s := stores[1]
		snap, err := s.World(bg)
		if err != nil {
			t.Error(err)
			return
		}
		world := map[string]store.WorldValue{}
		for _, v := range snap.Vars {
			world[v.Name] = v
		}
		clock := snap.Clock
		for {
			select {
			case <-stop:
				return
			default:
			}
			since, err := s.WorldSince(bg, clock)
			if err != nil {
				t.Error(err)
				return
			}
			for _, v := range since.Vars {
				if v.Clock <= clock || v.Clock > since.Clock {
					t.Errorf("WorldSince(%d) at clock %d returned %s written at clock %d", clock, since.Clock, v.Name, v.Clock)
				}
				world[v.Name] = v
			}
			clock = since.Clock
			sum := 0
			for i := range accounts {
				sum += counter(t, world[fmt.Sprintf("acct%d", i)])
			}
			if sum != accounts*initial {
				t.Errorf("a snapshot at clock %d has accounts summing to %d, want %d", clock, sum, accounts*initial)
				return
			}
			snapshots++
		}
	})
	wg.Wait()
	close(stop)
	readerWG.Wait()
	snap, err := stores[0].World(bg)
	if err != nil {
		t.Fatal(err)
	}
	count, _ := snap.Lookup("count")
	if got := counter(t, count); got != workers*rounds {
		t.Errorf("count = %d after %d increments: updates were lost", got, workers*rounds)
	}
	sum := 0
	for i := range accounts {
		v, _ := snap.Lookup(fmt.Sprintf("acct%d", i))
		sum += counter(t, v)
	}
	if sum != accounts*initial {
		t.Errorf("accounts sum to %d, want %d", sum, accounts*initial)
	}
	total := 0
	retries.Range(func(_, v any) bool { total += v.(int); return true })
	t.Logf("%d commits, %d refused as stale and run again; the reader checked %d snapshots", workers*rounds, total, snapshots)
}

// TestWorldLateCommit: a commit that has locked its world vars and not yet
// committed (a worker paused, or killed with its COMMIT in flight) makes a
// commit from another store that read the same version wait, and then
// refuses it as stale with the late commit's value: a late commit can
// never be overwritten blind.
func TestWorldLateCommit(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	late, other := db.open(nil), db.open(nil)
	if errs, err := late.Commit(bg, []store.Step{{World: []store.WorldWrite{{Name: "x", Value: mustEncode(t, 1)}}}}); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	paused, release := make(chan struct{}), make(chan struct{})
	postgres.SetBeforeCommit(late, func(context.Context) {
		close(paused)
		<-release
	})
	lateDone := make(chan error, 1)
	go func() {
		errs, err := late.Commit(bg, []store.Step{{World: []store.WorldWrite{{Name: "x", Value: mustEncode(t, 2), Prev: 1}}}})
		if err == nil {
			err = errs[0]
		}
		lateDone <- err
	}()
	<-paused
	otherDone := make(chan []error, 1)
	go func() {
		errs, err := other.Commit(bg, []store.Step{{World: []store.WorldWrite{{Name: "x", Value: mustEncode(t, 3), Prev: 1}}}})
		if err != nil {
			t.Error(err)
		}
		otherDone <- errs
	}()
	// The other commit waits for the late one's lock on x.
	db.waitFor("a commit waiting for an advisory lock", `SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = $1`, db.schema)
	select {
	case errs := <-otherDone:
		t.Fatalf("a commit of x returned (%v) while another commit of x held its lock", errs)
	default:
	}
	close(release)
	if err := <-lateDone; err != nil {
		t.Fatalf("the late commit: %v", err)
	}
	errs := <-otherDone
	var se *store.StaleError
	if !errors.As(errs[0], &se) || len(se.Fresh) != 1 || se.Fresh[0].Version != 2 || counter(t, se.Fresh[0]) != 2 {
		t.Fatalf("the commit that read x at version 1 = %v, want stale with x = 2 at version 2", errs[0])
	}
	snap, _ := other.World(bg)
	if x, _ := snap.Lookup("x"); counter(t, x) != 2 || x.Version != 2 {
		t.Errorf("x = %d at version %d, want the late commit's 2 at version 2", counter(t, x), x.Version)
	}
}

// TestWorldCommitted: a world commit through one store is notified, with
// its clock, to a worker listening through another; WorldClock reads it.
func TestWorldCommitted(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	listener, writer := db.open(&postgres.Options{PollInterval: time.Hour}), db.open(nil)
	ch := listener.WorldCommitted()
	// The listener passes on the clock once it listens; wait for that
	// (clock 0) before committing, so that the commit is notified.
	select {
	case c := <-ch:
		if c != 0 {
			t.Fatalf("first clock %d, want 0", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no clock from WorldCommitted after the listener started")
	}
	for i := range 3 {
		errs, err := writer.Commit(bg, []store.Step{{World: []store.WorldWrite{{Name: "x", Value: mustEncode(t, i), Prev: uint64(i)}}}})
		if err != nil || errs[0] != nil {
			t.Fatal(errs, err)
		}
		want, err := writer.WorldClock(bg)
		if err != nil {
			t.Fatal(err)
		}
		for got := uint64(0); got < want; {
			select {
			case got = <-ch:
			case <-time.After(10 * time.Second):
				t.Fatalf("commit %d: WorldCommitted gave %d, want %d", i, got, want)
			}
		}
	}
	if c, err := listener.WorldClock(bg); err != nil || c != 3 {
		t.Errorf("WorldClock after 3 world commits = %d, %v; want 3", c, err)
	}
}

// TestWriteFaultAlone: steps whose own writes the database refuses inside
// the transaction (a trigger raises check_violation on their journal rows,
// as a constraint would; a message to a task ID with a NUL byte, which no
// text column holds) are refused alone: the other steps of the Commit
// commit.
func TestWriteFaultAlone(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	s := db.open(nil)
	db.exec(`CREATE FUNCTION $schema.boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = 'check_violation'; END $$`)
	db.exec(`CREATE TRIGGER boom BEFORE INSERT ON $schema.journal FOR EACH ROW
		WHEN (NEW.task_id LIKE 'bad%') EXECUTE FUNCTION $schema.boom()`)
	ids := []string{"good1", "bad1", "good2", "good3", "nul", "good4", "bad2", "good5"}
	var steps []store.Step
	for _, id := range ids {
		steps = append(steps, claimStep(t, s, id))
	}
	steps[4].Sends = []store.Outgoing{{To: "no\x00body", Env: storetest.NewEnvelope("m")}}
	for i := range steps {
		steps[i].Sends = append(steps[i].Sends, store.Outgoing{To: "good1", Env: storetest.NewEnvelope("from " + steps[i].ID)})
	}
	errs, err := s.Commit(bg, steps)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	good := 0
	for i, st := range steps {
		bad := st.ID == "nul" || st.ID == "bad1" || st.ID == "bad2"
		if bad != (errs[i] != nil) {
			t.Errorf("Commit of %s: %v", st.ID, errs[i])
		}
		if bad {
			t.Logf("%s refused: %v", st.ID, errs[i])
		} else {
			good++
		}
		r, _, err := s.Load(bg, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if bad && (r.Status != task.Running || len(r.Journal) != 0) || !bad && (r.Status != task.Done || len(r.Journal) != 2) {
			t.Errorf("%s after the commit: %s with %d entries", st.ID, r.Status, len(r.Journal))
		}
	}
	snap, _ := s.World(bg)
	if len(snap.Vars) != good {
		t.Errorf("world has %d vars, want the %d of the good steps", len(snap.Vars), good)
	}
	if ms, _ := s.Messages(bg, "good1", 0); len(ms) != good {
		t.Errorf("good1 has %d messages, want the %d of the good steps", len(ms), good)
	}
}
