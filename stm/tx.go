package stm

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// clock is the global version clock. Every commit that writes takes the next
// value; a var's version is the clock value of the commit that last wrote it.
var clock atomic.Uint64

type readEntry struct {
	c   *varCore
	ver uint64 // c.lock when read; c is unchanged while c.lock == ver
}

type writeEntry struct {
	c    *varCore
	p    unsafe.Pointer // the new value (*T), if c is not in place; private until commit
	word uint64         // the new value, if c is in place
	old  uint64         // c.lock before this transaction locked c

	stamp   uint64 // for an owned var: the stamp the new value is published with
	stamped bool   // stamp was given by SetStamped (else it is the old one plus one)
}

// signal is a control-flow panic value of the package. Only these two exist.
type signal struct{ name string }

var (
	sigConflict = &signal{"stm: transaction conflict (internal; do not recover)"}
	sigRetry    = &signal{"stm: Retry (internal; do not recover)"}
)

// errConflict reports a failed commit; the transaction is rerun.
var errConflict = errors.New("stm: conflict")

// Tx is one attempt of a transaction. A *Tx is valid only inside the
// function it was passed to and only on that goroutine; do not keep it.
type Tx struct {
	rv     uint64 // read version: the snapshot the transaction sees
	reads  []readEntry
	writes []writeEntry
	windex map[*varCore]int // latest write index per var, once writes is large

	level int     // first write index owned by the innermost OrElse branch
	dups  bool    // writes may hold several entries for one var
	owned bool    // some write is to an owned var (Prepare may apply)
	sig   *signal // pending control signal, in case user code recovers it

	ctx       context.Context
	published []func() // Commit.Published callbacks of the owners prepared

	// blocked is the var whose lock made the attempt give up (a commit held
	// it beyond maxSpin), with the lock word seen; run parks on it before
	// the rerun and clears it. (reset does not clear it: one store more
	// and begin is no longer inlined into run's loop; leave does.)
	blocked     *varCore
	blockedWord uint64

	slot *slot   // the nesting-table slot held, or nil (overflow)
	g    uintptr // the goroutine, when slot is nil

	readBuf  [16]readEntry
	writeBuf [8]writeEntry
}

const windexAt = 8 // write-set size from which a map index is kept

func newTx() *Tx {
	tx := new(Tx)
	tx.reads = tx.readBuf[:0]
	tx.writes = tx.writeBuf[:0]
	return tx
}

// release readies tx for its next user. The inline read and write buffers
// are not cleared (clearing costs write barriers on the hot path), so an idle
// Tx may keep up to len(readBuf)+len(writeBuf) old values reachable until
// its next use; larger sets are dropped.
func (tx *Tx) release() {
	tx.reset()
	tx.ctx = nil
}

// reset forgets the attempt's reads and writes.
func (tx *Tx) reset() {
	if cap(tx.reads) > len(tx.readBuf) {
		tx.reads = tx.readBuf[:0]
	} else {
		tx.reads = tx.reads[:0]
	}
	if cap(tx.writes) > len(tx.writeBuf) {
		tx.writes = tx.writeBuf[:0]
	} else {
		tx.writes = tx.writes[:0]
	}
	tx.windex = nil
	tx.level = 0
	tx.dups = false
	tx.owned = false
	tx.sig = nil
	tx.published = nil
}

func (tx *Tx) begin() {
	tx.reset()
	tx.rv = clock.Load()
}

// abort abandons the attempt; it is rerun from the start.
func (tx *Tx) abort() {
	tx.sig = sigConflict
	panic(sigConflict)
}

// Retry abandons this attempt: nothing it wrote is committed. Atomically
// then blocks until a var read so far (in this attempt, including in OrElse
// branches that retried) is changed by another commit, and reruns the
// transaction. Inside OrElse, Retry in the first branch runs the second.
//
// Retry does not return. It unwinds with a panic that the package recovers;
// do not recover it yourself.
func (tx *Tx) Retry() {
	tx.sig = sigRetry
	panic(sigRetry)
}

const maxSpin = 64

// spin waits a little for a lock to be released.
func spin(i int) {
	if i >= 8 {
		runtime.Gosched()
	}
}

// backoff delays the rerun of a transaction that conflicted attempt+1 times
// in a row, so that conflicting transactions stop colliding. (A transaction
// that gave up on a var locked by a slow Prepare is parked instead, see
// varCore.park.)
func backoff(attempt int) {
	switch {
	case attempt < 2:
	case attempt < 8:
		runtime.Gosched()
	default:
		shift := min(attempt-8, 10)
		d := time.Duration(1+rand.IntN(1<<shift)) * time.Microsecond
		time.Sleep(d)
	}
}

var errZeroVar = errors.New("stm: use of a zero Var; create vars with NewVar")

// readWord returns the word of an in-place var c as seen by tx.
func (tx *Tx) readWord(c *varCore) uint64 {
	for spins := 0; ; spins++ {
		ver := c.lock.Load()
		if ver&locked == 0 {
			u := c.word.Load()
			if c.lock.Load() == ver {
				tx.noteRead(c, ver)
				return u
			}
		}
		tx.waitUnlocked(c, ver, spins)
	}
}

// readPtr returns the value pointer of var c as seen by tx.
func (tx *Tx) readPtr(c *varCore) unsafe.Pointer {
	for spins := 0; ; spins++ {
		ver := c.lock.Load()
		if ver&locked == 0 {
			p := atomic.LoadPointer(&c.ptr)
			if c.lock.Load() == ver {
				if p == nil {
					panic(errZeroVar)
				}
				tx.noteRead(c, ver)
				return p
			}
		}
		tx.waitUnlocked(c, ver, spins)
	}
}

// noteRead adds a read of c at version ver to tx's read set, and abandons
// tx if that version is newer than tx's snapshot and the snapshot cannot
// be extended.
func (tx *Tx) noteRead(c *varCore, ver uint64) {
	tx.reads = append(tx.reads, readEntry{c, ver})
	if ver>>1 > tx.rv && !tx.extend() {
		tx.abort()
	}
}

// waitUnlocked spins while var c is locked by a commit (ver is the lock
// word seen), and abandons tx when that takes too long: an Owner's Prepare
// may hold the lock for a store round trip. The rerun is then parked until
// the lock is released (run, varCore.park): rerunning at once would only
// find the var locked again. Waiting here instead, in the middle of the
// body, would be as good for this read but leaves the snapshot to go stale
// meanwhile; an abandoned attempt holds nothing, so parking it cannot
// deadlock.
func (tx *Tx) waitUnlocked(c *varCore, ver uint64, spins int) {
	if spins >= maxSpin {
		if ver&locked != 0 {
			tx.blocked, tx.blockedWord = c, ver
		}
		tx.abort()
	}
	spin(spins)
}

// extend moves tx's snapshot forward to now, which is sound if nothing it
// has read has changed since it read it (then all its reads are also the
// latest values at now).
func (tx *Tx) extend() bool {
	now := clock.Load()
	for _, r := range tx.reads {
		if r.c.lock.Load() != r.ver {
			return false
		}
	}
	tx.rv = now
	return true
}

// findWrite returns the index of the latest write entry for c, or -1.
func (tx *Tx) findWrite(c *varCore) int {
	if tx.windex != nil {
		if i, ok := tx.windex[c]; ok {
			return i
		}
		return -1
	}
	for i := len(tx.writes) - 1; i >= 0; i-- {
		if tx.writes[i].c == c {
			return i
		}
	}
	return -1
}

func (tx *Tx) addWrite(c *varCore, p unsafe.Pointer, word uint64) {
	if c.id == 0 {
		panic(errZeroVar)
	}
	if tx.level > 0 && !tx.dups && tx.findWrite(c) >= 0 {
		tx.dups = true
	}
	// Grow by one and fill the entry in place: a composite literal would
	// go through a stack temporary, whose copy stalls on store forwarding.
	n := len(tx.writes)
	if n == cap(tx.writes) {
		tx.writes = append(tx.writes, writeEntry{})
	} else {
		tx.writes = tx.writes[:n+1]
	}
	w := &tx.writes[n]
	w.c, w.p, w.word = c, p, word
	w.old, w.stamp, w.stamped = 0, 0, false
	if c.own != nil {
		tx.owned = true
	}
	switch n := len(tx.writes); {
	case tx.windex != nil:
		tx.windex[c] = n - 1
	case n >= windexAt:
		tx.reindex()
	}
}

func (tx *Tx) reindex() {
	if len(tx.writes) < windexAt {
		tx.windex = nil
		return
	}
	tx.windex = make(map[*varCore]int, len(tx.writes))
	for i, w := range tx.writes {
		tx.windex[w.c] = i
	}
}

// truncate drops the write entries from index n on (an OrElse branch's).
func (tx *Tx) truncate(n int) {
	if n == len(tx.writes) {
		return
	}
	clear(tx.writes[n:])
	tx.writes = tx.writes[:n]
	if tx.windex != nil {
		tx.reindex()
	}
}

// dedupe keeps only the latest write entry per var (OrElse can leave
// shadowed entries behind).
func (tx *Tx) dedupe() {
	seen := make(map[*varCore]struct{}, len(tx.writes))
	out := tx.writes[:0]
	for i := len(tx.writes) - 1; i >= 0; i-- {
		w := tx.writes[i]
		if _, ok := seen[w.c]; ok {
			continue
		}
		seen[w.c] = struct{}{}
		out = append(out, w)
	}
	clear(tx.writes[len(out):])
	tx.writes = out
	tx.windex = nil
	tx.dups = false
}

// validate reports whether every var tx read is unchanged. Called during
// commit, with tx's write set locked.
func (tx *Tx) validate() bool {
	for _, r := range tx.reads {
		ver := r.c.lock.Load()
		if ver == r.ver {
			continue
		}
		if ver&^fenced == r.ver|locked {
			// Locked: fine if by tx itself (then nobody else holds it).
			if i := tx.findWrite(r.c); i >= 0 && tx.writes[i].old == r.ver {
				continue
			}
		}
		return false
	}
	return true
}

// unlock releases the locks of ws without publishing anything, and wakes
// the transactions parked on them (varCore.park).
func (tx *Tx) unlock(ws []writeEntry) {
	for i := range ws {
		c := ws[i].c
		c.lock.Store(ws[i].old)
		if c.nwait.Load() != 0 {
			c.unpark()
		}
	}
}

// commit publishes tx's writes atomically. It returns errConflict if tx must
// be rerun, or the error of an Owner's Prepare (then nothing is published).
func (tx *Tx) commit() error {
	if len(tx.writes) == 0 {
		// Read-only: every read was consistent at rv, so the transaction
		// serializes at rv. No locks, no validation.
		return nil
	}
	if tx.dups {
		tx.dedupe()
	}
	ws := tx.writes
	if tx.windex == nil && len(ws) >= windexAt {
		tx.reindex()
	}
	hold := uint64(locked)
	if tx.owned {
		hold |= fenced
	}
	for i := range ws {
		c := ws[i].c
		for spins := 0; ; spins++ {
			ver := c.lock.Load()
			if ver&locked == 0 {
				if c.lock.CompareAndSwap(ver, ver|hold) {
					ws[i].old = ver
					break
				}
				continue
			}
			if spins >= maxSpin {
				// Give up the locks taken so far before parking on c
				// (run): a commit never waits while holding a lock, so
				// two commits cannot wait on each other.
				tx.unlock(ws[:i])
				tx.blocked, tx.blockedWord = c, ver
				return errConflict
			}
			spin(spins)
		}
	}
	// The add is a fence on amd64. A commit without a Prepare could do
	// without it (publish at the clock plus one, raised above the
	// versions replaced), but then versions run ahead of the clock: the
	// next reader of the var extends its snapshot, and the rv+1 shortcut
	// below no longer holds. Tried (issue 15): 613 -> 721 instructions
	// per uncontended increment, and no faster.
	wv := clock.Add(1)
	// If no other commit took a version since tx's snapshot, nothing tx
	// read can have changed (TL2's rv+1 shortcut).
	if wv != tx.rv+1 && !tx.validate() {
		tx.unlock(ws)
		return errConflict
	}
	if tx.owned {
		if err := tx.prepare(wv); err != nil {
			tx.unlock(ws)
			return err
		}
	}
	for i := range ws {
		w := &ws[i]
		c := w.c
		if c.inPlace {
			storeWord(c, w.word)
		} else {
			storePtr(c, w.p)
		}
		if c.own != nil {
			storeStamp(c.own, w.stamp)
		}
		// Publish the value and unlock. A commit with a Prepare releases
		// with a fence before it looks for waiters; one without may not
		// (release; waiters of a var held without fenced wait for the
		// word to change, see settled).
		if tx.owned {
			c.lock.Store(wv << 1)
		} else {
			release(c, wv<<1)
		}
	}
	for i := range ws {
		if c := ws[i].c; c.nwait.Load() != 0 {
			c.wake()
		}
	}
	for _, f := range tx.published {
		f()
	}
	return nil
}

// OrElse runs first; if first calls Retry, the writes it made are discarded
// and second runs instead. If second retries too, the retry propagates:
// the enclosing OrElse tries its alternative, or the whole transaction waits
// until a var read by either branch changes.
//
// A branch that returns an error is rolled back like a retried one (its
// writes are discarded) and OrElse returns the error.
func OrElse[T any](tx *Tx, first, second func(tx *Tx) (T, error)) (T, error) {
	mark, outer := len(tx.writes), tx.level
	tx.level = mark
	res, err, retried := tryBranch(tx, first)
	if retried {
		tx.truncate(mark)
		tx.level = mark       // a nested OrElse unwound by the Retry left its own
		res, err = second(tx) // a Retry here propagates; the caller truncates
	}
	if err != nil {
		tx.truncate(mark)
	}
	tx.level = outer
	return res, err
}

// tryBranch runs a branch and reports whether it called Retry.
func tryBranch[T any](tx *Tx, fn func(*Tx) (T, error)) (res T, err error, retried bool) {
	done := false
	defer func() {
		if done {
			return
		}
		r := recover()
		if r == sigRetry && tx.sig == sigRetry {
			tx.sig = nil
			retried = true
			return
		}
		if r != nil { // nil: runtime.Goexit, let it proceed
			panic(r)
		}
	}()
	res, err = fn(tx)
	if tx.sig == sigRetry { // the body recovered our signal
		tx.sig = nil
		var zero T
		return zero, nil, true
	}
	if tx.sig == sigConflict {
		panic(sigConflict)
	}
	done = true
	return res, err, false
}
