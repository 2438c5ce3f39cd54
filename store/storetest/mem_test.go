package storetest_test

import (
	"testing"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/memstore"
	"github.com/amberrt/amber/store/storetest"
)

// TestMem runs the suite on the in-memory store, the reference the suite
// itself is checked against.
func TestMem(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}
