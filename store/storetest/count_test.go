package storetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/memstore"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// TestCount passes the calls on and counts the writes by kind, a Claim
// that found nothing apart; the wrapper keeps the store's capabilities.
func TestCount(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New()
	defer mem.Close()
	s, c := storetest.Count(mem)
	if _, ok := s.(store.WorldNotifier); !ok {
		t.Error("the memstore is a WorldNotifier; counted, it is not")
	}
	if err := s.Create(ctx, storetest.NewRecord("a")); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Claim(ctx, "w", 10, storetest.T0, time.Hour)
	if err != nil || len(ls) != 1 {
		t.Fatalf("claim: %v, %v", ls, err)
	}
	if ls, err := s.Claim(ctx, "w", 10, storetest.T0, time.Hour); err != nil || len(ls) != 0 {
		t.Fatalf("second claim: %v, %v", ls, err)
	}
	l := ls[0]
	errs, err := s.Commit(ctx, []store.Step{{ID: l.ID, Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Token: store.NewToken(),
		Status: task.Waiting, Append: []task.Entry{storetest.NewEntry(1)}}})
	if err != nil || errs[0] != nil {
		t.Fatalf("commit: %v, %v", errs, err)
	}
	if err := s.Wake(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	want := storetest.Tally{Create: 1, Claim: 1, Commit: 1, Other: 1, Idle: 1}
	if got := c.Tally(); got != want || got.Writes() != 4 {
		t.Errorf("tally %+v (%d writes), want %+v (4)", got, got.Writes(), want)
	}
}
