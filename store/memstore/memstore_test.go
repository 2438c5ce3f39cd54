package memstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/memstore"
	"github.com/amberrt/amber/store/storetest"
)

var bg = context.Background()

// TestNotifiers: interpreters sharing a store learn of each other's work:
// Ready receives when a task becomes ready, WorldCommitted the clock of
// the last world commit (the latest only, for a reader that fell behind).
func TestNotifiers(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	if err := s.Create(bg, storetest.NewRecord("a")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Ready():
	default:
		t.Error("Ready did not receive after Create")
	}
	for i := range 3 {
		errs, err := s.Commit(bg, []store.Step{{World: []store.WorldWrite{{Name: "x", Value: []byte{byte(i)}, Prev: uint64(i)}}}})
		if err != nil || errs[0] != nil {
			t.Fatal(errs, err)
		}
	}
	select {
	case c := <-s.WorldCommitted():
		if c != 3 {
			t.Errorf("WorldCommitted after 3 world commits gave %d, want 3", c)
		}
	default:
		t.Error("WorldCommitted did not receive after world commits")
	}
	if c, err := s.WorldClock(bg); err != nil || c != 3 {
		t.Errorf("WorldClock = %d, %v; want 3", c, err)
	}
}

// TestClosed: after Close, calls fail with ErrClosed, and Close again is
// fine.
func TestClosed(t *testing.T) {
	s := memstore.New()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(bg, storetest.NewRecord("a")); !errors.Is(err, memstore.ErrClosed) {
		t.Errorf("Create after Close: %v, want ErrClosed", err)
	}
	if _, err := s.World(bg); !errors.Is(err, memstore.ErrClosed) {
		t.Errorf("World after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
}
