// Package landing decides what became of a step whose commit its caller
// could not see through (store.Store.Landed), from what a store reads:
// one rule for every store.
package landing

import "github.com/amberrt/amber/store"

// Task decides for a task step s from its task's row: its committed
// steps, the token of the last step committed, and its lease.
func Task(s store.Step, steps, token uint64, owner string, epoch uint64) store.Outcome {
	switch {
	case steps == s.Steps+1 && token == s.Token:
		return store.Landed
	case steps == s.Steps && owner == s.Owner && epoch == s.Epoch:
		return store.NotLanded
	}
	return store.Superseded
}

// World decides for a step s without a task from the current rows of the
// vars it writes: current returns a var's version (0 if it does not exist)
// and the token of the commit that wrote that version. Only one commit can
// write version Prev+1 of a var (every write names the version it
// replaces), so a row at Prev+1 tells who wrote it; a row further on does
// not.
func World(s store.Step, current func(name string) (version, token uint64)) store.Outcome {
	if len(s.World) == 0 {
		return store.NotLanded // it changes nothing
	}
	unchanged := true
	for _, w := range s.World {
		version, token := current(w.Name)
		if version == w.Prev+1 && token == s.Token {
			return store.Landed // a commit is all or nothing: its other writes landed too
		}
		if version != w.Prev {
			unchanged = false
		}
	}
	if unchanged {
		return store.NotLanded
	}
	return store.Superseded
}
