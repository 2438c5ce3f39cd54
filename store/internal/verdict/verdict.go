// Package verdict holds the rules by which a store judges a step from the
// rows it reads: whether its world vars are stale, and what became of a
// step whose commit its caller could not see through (store.Store.Landed).
// One rule for every store.
package verdict

import (
	"cmp"
	"slices"

	"github.com/amberrt/amber/store"
)

// Stale checks the versions that step s names for the world vars it
// writes and reads against the current rows (current returns a var's row,
// Version 0 if it does not exist): nil if they all match, else a
// *store.StaleError carrying the current rows of the stale vars, by name.
func Stale(s *store.Step, current func(name string) (store.WorldValue, error)) (*store.StaleError, error) {
	var fresh []store.WorldValue
	check := func(name string, version uint64) error {
		cur, err := current(name)
		if err == nil && cur.Version != version {
			cur.Name = name
			fresh = append(fresh, cur)
		}
		return err
	}
	for _, w := range s.World {
		if err := check(w.Name, w.Prev); err != nil {
			return nil, err
		}
	}
	for _, r := range s.WorldReads {
		if err := check(r.Name, r.Version); err != nil {
			return nil, err
		}
	}
	if fresh == nil {
		return nil, nil
	}
	slices.SortFunc(fresh, func(a, b store.WorldValue) int { return cmp.Compare(a.Name, b.Name) })
	return &store.StaleError{Task: s.ID, Fresh: fresh}, nil
}

// Landed decides for a task step s from its task's row: its committed
// steps, the token of the last step committed, and its lease.
func Landed(s store.Step, steps, token uint64, owner string, epoch uint64) store.Outcome {
	switch {
	case steps == s.Steps+1 && token == s.Token:
		return store.Landed
	case steps == s.Steps && owner == s.Owner && epoch == s.Epoch:
		return store.NotLanded
	}
	return store.Superseded
}

// LandedWorld decides for a step s without a task from the current rows of the
// vars it writes: current returns a var's version (0 if it does not exist)
// and the token of the commit that wrote that version. Only one commit can
// write version Prev+1 of a var (every write names the version it
// replaces), so a row at Prev+1 tells who wrote it; a row further on does
// not.
func LandedWorld(s store.Step, current func(name string) (version, token uint64)) store.Outcome {
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
