//go:build !amd64 || race

package stm

import (
	"sync/atomic"
	"unsafe"
)

// storeWord publishes the in-place value u of var c, whose lock the caller
// holds (see store_tso.go).
func storeWord(c *varCore, u uint64) { c.word.Store(u) }

// storePtr publishes the value pointer p of var c, whose lock the caller
// holds (see store_tso.go).
func storePtr(c *varCore, p unsafe.Pointer) { atomic.StorePointer(&c.ptr, p) }

// storeStamp publishes the stamp s of an owned var, whose lock the caller
// holds (see store_tso.go).
func storeStamp(o *owned, s uint64) { o.stamp.Store(s) }

// freeSlot frees the nesting slot s, which the caller holds (see
// store_tso.go).
func freeSlot(s *slot) { s.g.Store(0) }

// release publishes version word u of var c, which unlocks it; the caller
// holds c's lock and has no Prepare (see store_tso.go).
func release(c *varCore, u uint64) { c.lock.Store(u) }
