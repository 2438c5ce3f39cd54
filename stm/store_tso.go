//go:build amd64 && !race

package stm

import "unsafe"

// Two stores of the commit path need no fence, and on amd64 an atomic
// store is an XCHG, a full fence as dear as a CAS (about a quarter of an
// uncontended transaction's time for the two). There, every store is a
// release store (the processor makes stores visible in program order, and
// moves no load before an older load), and the compiler keeps stores in
// program order, so a plain store is enough:
//
//   - storeWord: a commit stores an in-place var's word while it holds the
//     var's lock, and releases the lock afterwards with an atomic store (a
//     fence, which the wake-up of parked waiters needs); a reader takes
//     the word only between two loads of the lock that agree;
//   - freeSlot: leave frees a nesting slot after its last use of the slot's
//     Tx; a goroutine takes a slot with a CAS before it uses the Tx, and a
//     goroutine that still sees the slot taken only passes it over.
//
// Under the race detector, and elsewhere than amd64, the stores are atomic
// (store_atomic.go): the detector must see the synchronisation, and weaker
// processors need it.

// storeWord publishes the in-place value u of var c, whose lock the caller
// holds.
func storeWord(c *varCore, u uint64) { *(*uint64)(unsafe.Pointer(&c.word)) = u }

// freeSlot frees the nesting slot s, which the caller holds.
func freeSlot(s *slot) { *(*uintptr)(unsafe.Pointer(&s.g)) = 0 }
