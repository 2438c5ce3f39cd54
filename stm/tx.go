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
	c *varCore
	b unsafe.Pointer // the box read; unchanged while c.cur == b
}

type writeEntry struct {
	c   *varCore
	p   unsafe.Pointer // *box[T], private to the transaction until commit
	old unsafe.Pointer // c.cur before this transaction locked c
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
	world bool    // some write is to a world var (commit hooks may apply)
	sig   *signal // pending control signal, in case user code recovers it

	ctx     context.Context
	noHooks bool

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
	tx.noHooks = false
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
	tx.world = false
	tx.sig = nil
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
// in a row, so that conflicting transactions stop colliding and a
// transaction waiting on a var locked by a slow commit hook does not spin.
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

var errZeroVar = errors.New("stm: use of a zero Var; create vars with NewVar or Named")

// read returns the box of c as seen by tx.
func (tx *Tx) read(c *varCore) unsafe.Pointer {
	if len(tx.writes) != 0 {
		if i := tx.findWrite(c); i >= 0 {
			return tx.writes[i].p
		}
	}
	for spins := 0; ; spins++ {
		p := c.load()
		if isLocked(p) {
			if spins >= maxSpin {
				tx.abort()
			}
			spin(spins)
			continue
		}
		if p == nil {
			panic(errZeroVar)
		}
		tx.reads = append(tx.reads, readEntry{c, p})
		if boxVer(p) > tx.rv && !tx.extend() {
			tx.abort()
		}
		return p
	}
}

// extend moves tx's snapshot forward to now, which is sound if nothing it
// has read has changed since it read it (then all its reads are also the
// latest values at now).
func (tx *Tx) extend() bool {
	now := clock.Load()
	for _, r := range tx.reads {
		if r.c.load() != r.b {
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

func (tx *Tx) addWrite(c *varCore, p unsafe.Pointer) {
	if tx.level > 0 && !tx.dups && tx.findWrite(c) >= 0 {
		tx.dups = true
	}
	tx.writes = append(tx.writes, writeEntry{c: c, p: p})
	if c.world != nil {
		tx.world = true
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
		p := r.c.load()
		if p == r.b {
			continue
		}
		if p == lockedPtr(r.b) {
			// Locked: fine if by tx itself.
			if i := tx.findWrite(r.c); i >= 0 && tx.writes[i].old == r.b {
				continue
			}
		}
		return false
	}
	return true
}

func (tx *Tx) unlock(ws []writeEntry) {
	for i := range ws {
		atomic.StorePointer(&ws[i].c.cur, ws[i].old)
	}
}

// commit publishes tx's writes atomically. It returns errConflict if tx must
// be rerun, or the error of a commit hook (then nothing is published).
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
	for i := range ws {
		c := ws[i].c
		for spins := 0; ; spins++ {
			p := c.load()
			if !isLocked(p) {
				if p == nil {
					tx.unlock(ws[:i])
					panic(errZeroVar)
				}
				if atomic.CompareAndSwapPointer(&c.cur, p, lockedPtr(p)) {
					ws[i].old = p
					break
				}
				continue
			}
			if spins >= maxSpin {
				tx.unlock(ws[:i])
				return errConflict
			}
			spin(spins)
		}
	}
	wv := clock.Add(1)
	// If no other commit took a version since tx's snapshot, nothing tx
	// read can have changed (TL2's rv+1 shortcut).
	if wv != tx.rv+1 && !tx.validate() {
		tx.unlock(ws)
		return errConflict
	}
	if tx.world && !tx.noHooks {
		if err := tx.runHooks(wv); err != nil {
			tx.unlock(ws)
			return err
		}
	}
	for i := range ws {
		*(*uint64)(ws[i].p) = wv // the box's version; still private
		atomic.StorePointer(&ws[i].c.cur, ws[i].p)
	}
	for i := range ws {
		if c := ws[i].c; c.nwait.Load() != 0 {
			c.wake()
		}
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
