// Package coll runs effects over collections: ForEach, Map, Reduce in
// order, ParMap with a bound on how many run at once, and iteration over
// Go maps in sorted key order, so that a program never ranges over a map
// (whose order changes from run to run, and with it the order of the ops
// the program issues, which a replay would then reject).
//
// # Order and journals
//
// ForEach, Map and Reduce run one effect after the other, in slice order.
// ParMap runs up to limit effects at once, as fibers of the task (like
// effect.Par): which one finishes first is decided by the interpreter and
// recorded, so a replay is exact; the results are in slice order whatever
// the order of completion.
//
// # Maps
//
//	for k, v := range coll.Sorted(prices) { ... }   // never: for k, v := range prices
//
// Keys and Entries give the sorted keys and pairs as slices, for the
// combinators above. The pure helpers come from github.com/samber/lo.
package coll

import (
	"cmp"
	"iter"
	"slices"

	"github.com/amberrt/amber/effect"
	"github.com/samber/lo"
)

// ForEach runs f on each element of xs, in order, one after the other.
// The first failure stops it and is its failure.
func ForEach[T any](xs []T, f func(T) effect.Eff[effect.Unit]) effect.Eff[effect.Unit] {
	return effect.Map(Map(xs, f), func([]effect.Unit) effect.Unit { return effect.Unit{} })
}

// Map runs f on each element of xs, in order, one after the other, and
// yields the results in order. The first failure stops it.
func Map[T, U any](xs []T, f func(T) effect.Eff[U]) effect.Eff[[]U] {
	return effect.Suspend(func() effect.Eff[[]U] {
		out := make([]U, 0, len(xs))
		var step func(i int) effect.Eff[[]U]
		step = func(i int) effect.Eff[[]U] {
			if i == len(xs) {
				return effect.Pure(out)
			}
			return effect.Then(f(xs[i]), func(u U) effect.Eff[[]U] {
				out = append(out, u)
				return step(i + 1)
			})
		}
		return step(0)
	})
}

// Reduce folds xs into an accumulator, in order: acc = f(acc, x) for each
// x, starting from init.
func Reduce[T, A any](xs []T, init A, f func(A, T) effect.Eff[A]) effect.Eff[A] {
	return effect.Suspend(func() effect.Eff[A] {
		var step func(i int, acc A) effect.Eff[A]
		step = func(i int, acc A) effect.Eff[A] {
			if i == len(xs) {
				return effect.Pure(acc)
			}
			return effect.Then(f(acc, xs[i]), func(next A) effect.Eff[A] { return step(i+1, next) })
		}
		return step(0, init)
	})
}

// ParMap runs f on each element of xs with at most limit effects running
// at once (limit <= 0 or >= len(xs): all at once), and yields the results
// in the order of xs. The first failure cancels the effects still running
// and is its failure.
//
// It runs limit fibers; each takes the next element not yet taken when it
// is free, so a slow element does not hold back the others.
func ParMap[T, U any](xs []T, limit int, f func(T) effect.Eff[U]) effect.Eff[[]U] {
	if limit <= 0 || limit > len(xs) {
		limit = len(xs)
	}
	return effect.Suspend(func() effect.Eff[[]U] {
		// State of this run of the program only: Suspend builds it anew
		// each time the program runs (a replay, a resume).
		out := make([]U, len(xs))
		next := 0
		var worker func() effect.Eff[effect.Unit]
		worker = func() effect.Eff[effect.Unit] {
			if next == len(xs) {
				return effect.Pure(effect.Unit{})
			}
			i := next
			next++
			return effect.Then(f(xs[i]), func(u U) effect.Eff[effect.Unit] {
				out[i] = u
				return worker()
			})
		}
		workers := lo.Times(limit, func(int) effect.Eff[effect.Unit] { return effect.Suspend(worker) })
		return effect.As(effect.Par(workers...), out)
	})
}

// Keys returns m's keys in ascending order.
func Keys[K cmp.Ordered, V any](m map[K]V) []K {
	ks := lo.Keys(m)
	slices.Sort(ks)
	return ks
}

// Entries returns m's key and value pairs in ascending order of key.
func Entries[K cmp.Ordered, V any](m map[K]V) []lo.Entry[K, V] {
	es := lo.Entries(m)
	slices.SortFunc(es, func(a, b lo.Entry[K, V]) int { return cmp.Compare(a.Key, b.Key) })
	return es
}

// Sorted iterates over m in ascending order of key: the way for a
// program to range over a map.
func Sorted[K cmp.Ordered, V any](m map[K]V) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for _, k := range Keys(m) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

// ForEachSorted runs f on each key and value of m in ascending order of
// key, one after the other.
func ForEachSorted[K cmp.Ordered, V any](m map[K]V, f func(K, V) effect.Eff[effect.Unit]) effect.Eff[effect.Unit] {
	return ForEach(Entries(m), func(e lo.Entry[K, V]) effect.Eff[effect.Unit] { return f(e.Key, e.Value) })
}
