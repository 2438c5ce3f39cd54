package stm

import (
	"context"
	"sync"
	"sync/atomic"
)

// The nesting check needs to know whether the running goroutine is already
// inside a transaction. Go has no goroutine-local storage, so the goroutines
// inside a transaction hold a slot in a small table keyed by curg(). Only a
// goroutine ever stores or clears its own key, so a goroutine looking for
// itself cannot race with anyone that matters.
//
// A slot also caches a Tx: whoever holds the slot owns its Tx, which makes
// the table the transaction pool too (cheaper than sync.Pool).

const (
	slotLines = 256 // power of two
	lineSlots = 4   // 4 × 16 bytes: one cache line (enter reads the four by name)
)

type slot struct {
	g  atomic.Uintptr
	tx *Tx // owned by the holder of g
}

type slotLine struct {
	slots [lineSlots]slot
}

var (
	slotTable  [slotLines]slotLine
	overflowMu sync.Mutex
	overflow   map[uintptr]struct{}
	overflowN  atomic.Int32
	overflowTx = sync.Pool{New: func() any { return newTx() }}
)

func lineOf(g uintptr) *slotLine {
	h := uint64(g) * 0x9E3779B97F4A7C15
	return &slotTable[h>>(64-8)]
}

// enter records the running goroutine as inside a transaction and returns
// the Tx it may use, or nil if the goroutine already was inside one.
func enter(ctx context.Context) *Tx {
	g := curg()
	line := lineOf(g)
	// The four slots of the line, unrolled (a loop with a switch was
	// about 75 instructions of an uncontended transaction's 520).
	ls := &line.slots
	g0, g1, g2, g3 := ls[0].g.Load(), ls[1].g.Load(), ls[2].g.Load(), ls[3].g.Load()
	if g0 == g || g1 == g || g2 == g || g3 == g {
		return nil
	}
	free := -1
	switch uintptr(0) {
	case g0:
		free = 0
	case g1:
		free = 1
	case g2:
		free = 2
	case g3:
		free = 3
	}
	if overflowN.Load() != 0 {
		overflowMu.Lock()
		_, found := overflow[g]
		overflowMu.Unlock()
		if found {
			return nil
		}
	}
	if free >= 0 {
		for i := free; i < lineSlots; i++ {
			s := &line.slots[i]
			if s.g.CompareAndSwap(0, g) {
				tx := s.tx
				if tx == nil {
					tx = newTx()
					s.tx = tx
				}
				tx.slot = s
				tx.ctx = ctx
				return tx
			}
		}
	}
	overflowMu.Lock()
	if overflow == nil {
		overflow = make(map[uintptr]struct{})
	}
	overflow[g] = struct{}{}
	overflowN.Store(int32(len(overflow)))
	overflowMu.Unlock()
	tx := overflowTx.Get().(*Tx)
	tx.slot = nil
	tx.g = g
	tx.ctx = ctx
	return tx
}

// leave undoes enter.
func leave(tx *Tx) {
	tx.release()
	tx.blocked = nil // set if fn panicked after recovering a conflict
	if s := tx.slot; s != nil {
		freeSlot(s)
		return
	}
	overflowMu.Lock()
	delete(overflow, tx.g)
	overflowN.Store(int32(len(overflow)))
	overflowMu.Unlock()
	overflowTx.Put(tx)
}
