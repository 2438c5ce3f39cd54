//go:build amd64 && !race

package stm

import "unsafe"

// Five stores of the commit path need no fence, and on amd64 an atomic
// store is an XCHG, a full fence as dear as a CAS. There, every store is a
// release store (the processor makes stores visible in program order, and
// moves no load before an older load), and the compiler keeps stores in
// program order, so a plain store is enough:
//
//   - storeWord: a commit stores an in-place var's word while it holds the
//     var's lock, and releases the lock afterwards with a later store;
//     a reader takes the word only between two loads of the lock that
//     agree;
//   - storePtr and storeStamp: the same for a var kept behind a pointer
//     (the new copy was filled in before, by earlier stores, which
//     become visible first) and for an owned var's stamp, which readers
//     also take between two loads of the lock that agree (Stamp,
//     newWait, prepare) or while holding the lock (prepare). The
//     compiler emits the GC's write barrier for the plain pointer store
//     as for the atomic one;
//   - freeSlot: leave frees a nesting slot after its last use of the slot's
//     Tx; a goroutine takes a slot with a CAS before it uses the Tx, and a
//     goroutine that still sees the slot taken only passes it over;
//   - release: a commit without an Owner's Prepare stores the new version
//     into the lock word of each var it wrote, which unlocks the var,
//     after storing the var's value. Readers need only the order of the
//     two stores (the seqlock: a reader that loads the new version and
//     then the word gets the new value, as for storeWord). What the fence
//     gave was the order of the release before the commit's load of
//     nwait, against a Wait that stores nwait and then loads the lock
//     word (newWait, park): without it both may miss the other. The fence
//     of the lock's CAS covers every Wait that registered before the lock
//     was taken (the commit loads nwait after it); a Wait that finds the
//     var held without the fenced bit waits for the word to change
//     instead of sleeping (settled), and such a hold is a few
//     instructions long. A commit with a Prepare holds its locks for a
//     store round trip, marks them fenced, and still releases with an
//     atomic store.
//
// Under the race detector, and elsewhere than amd64, the stores are atomic
// (store_atomic.go): the detector must see the synchronisation, and weaker
// processors need it.

// storeWord publishes the in-place value u of var c, whose lock the caller
// holds.
func storeWord(c *varCore, u uint64) { *(*uint64)(unsafe.Pointer(&c.word)) = u }

// storePtr publishes the value pointer p of var c, whose lock the caller
// holds.
func storePtr(c *varCore, p unsafe.Pointer) { *(*unsafe.Pointer)(unsafe.Pointer(&c.ptr)) = p }

// storeStamp publishes the stamp s of an owned var, whose lock the caller
// holds.
func storeStamp(o *owned, s uint64) { *(*uint64)(unsafe.Pointer(&o.stamp)) = s }

// freeSlot frees the nesting slot s, which the caller holds.
func freeSlot(s *slot) { *(*uintptr)(unsafe.Pointer(&s.g)) = 0 }

// release publishes version word u of var c, which unlocks it; the caller
// holds c's lock and has no Prepare.
func release(c *varCore, u uint64) { *(*uint64)(unsafe.Pointer(&c.lock)) = u }
