//go:build !amd64 || race

package stm

// storeWord publishes the in-place value u of var c, whose lock the caller
// holds (see store_tso.go).
func storeWord(c *varCore, u uint64) { c.word.Store(u) }

// freeSlot frees the nesting slot s, which the caller holds (see
// store_tso.go).
func freeSlot(s *slot) { s.g.Store(0) }

// release publishes version word u of var c, which unlocks it; the caller
// holds c's lock and has no Prepare (see store_tso.go).
func release(c *varCore, u uint64) { c.lock.Store(u) }
