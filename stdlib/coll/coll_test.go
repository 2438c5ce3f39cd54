package coll_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/lives"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stdlib/coll"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Square is an activity that counts its runs.
type Square struct {
	effect.Returns[int]
	N int
}

var squares atomic.Int64

// Run squares N; 13 is unlucky.
func (s Square) Run(context.Context) (int, error) {
	squares.Add(1)
	if s.N == 13 {
		return 0, errors.New("unlucky 13")
	}
	return s.N * s.N, nil
}

func square(n int) effect.Eff[int] { return effect.Perform(Square{N: n}) }

// Totals is what the program of TestLives computes.
type Totals struct {
	Squares []int
	Par     []int
	Sum     int
	Keys    []string
	Visited string
}

var totals = effect.NewProgram("coll.totals", 1, func(xs []int) effect.Eff[Totals] {
	prices := map[string]int{"pear": 3, "apple": 1, "fig": 2, "kiwi": 5}
	return effect.Do(func(e *effect.Ctx) Totals {
		var t Totals
		t.Squares = effect.Await(e, coll.Map(xs, square))
		t.Par = effect.Await(e, coll.ParMap(xs, 2, square))
		t.Sum = effect.Await(e, coll.Reduce(xs, 0, func(acc, x int) effect.Eff[int] {
			return effect.Map(square(x), func(s int) int { return acc + s })
		}))
		t.Keys = coll.Keys(prices)
		var b strings.Builder
		effect.Await(e, coll.ForEachSorted(prices, func(k string, v int) effect.Eff[effect.Unit] {
			return effect.Map(square(v), func(int) effect.Unit { fmt.Fprintf(&b, "%s=%d ", k, v); return effect.Unit{} })
		}))
		t.Visited = b.String()
		return t
	})
})

func TestLives(t *testing.T) {
	xs := []int{1, 2, 3, 4, 5}
	outs := lives.Check(t, lives.Case[[]int, Totals]{
		Program: totals, Input: xs, Unordered: true,
		Performed: func() int { return int(squares.Load()) },
	})
	want := Totals{
		Squares: []int{1, 4, 9, 16, 25}, Par: []int{1, 4, 9, 16, 25}, Sum: 55,
		Keys: []string{"apple", "fig", "kiwi", "pear"}, Visited: "apple=1 fig=2 kiwi=5 pear=3 ",
	}
	for _, o := range outs {
		require.NoError(t, o.Err, o.Life)
		require.Equal(t, want, o.Result, o.Life)
	}
}

// ParMap keeps at most limit effects running: under the mock's virtual
// clock, the times at which sleeps of 3, 1, 1, 1 hours end show the
// schedule of two workers.
func TestParMapBound(t *testing.T) {
	hours := []int{3, 1, 1, 1}
	ends := func(limit int) []int {
		p := effect.Then(effect.Now(), func(start time.Time) effect.Eff[[]int] {
			return coll.ParMap(hours, limit, func(h int) effect.Eff[int] {
				return effect.Seq(effect.Sleep(time.Duration(h)*time.Hour), effect.Map(effect.Now(), func(t time.Time) int {
					return int(t.Sub(start).Hours())
				}))
			})
		})
		got, err := interp.Run(context.Background(), interp.NewMock(), p)
		require.NoError(t, err)
		return got
	}
	require.Equal(t, []int{3, 1, 2, 3}, ends(2))
	require.Equal(t, []int{3, 1, 1, 1}, ends(0))
	require.Equal(t, []int{3, 4, 5, 6}, ends(1))
}

func TestFailureStops(t *testing.T) {
	for name, p := range map[string]effect.Eff[[]int]{
		"Map":    coll.Map([]int{1, 13, 2}, square),
		"ParMap": coll.ParMap([]int{1, 13, 2}, 2, square),
	} {
		_, err := interp.Run(context.Background(), interp.NewMock(), p)
		require.ErrorContains(t, err, "unlucky 13", name)
	}
	_, err := interp.Run(context.Background(), interp.NewMock(), coll.ForEach([]int{13}, func(n int) effect.Eff[effect.Unit] {
		return effect.As(square(n), effect.Unit{})
	}))
	require.ErrorContains(t, err, "unlucky 13")
}

func TestEmpty(t *testing.T) {
	got, err := interp.Run(context.Background(), interp.NewMock(), coll.ParMap(nil, 3, square))
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = interp.Run(context.Background(), interp.NewMock(), coll.Map(nil, square))
	require.NoError(t, err)
	require.Empty(t, got)
}

// ParMap yields Map's results, for any slice and any bound.
func TestParMapIsMap(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		xs := rapid.SliceOfN(rapid.IntRange(-100, 100), 0, 20).Draw(rt, "xs")
		limit := rapid.IntRange(-1, 25).Draw(rt, "limit")
		f := func(x int) effect.Eff[int] {
			return effect.Seq(effect.Sleep(time.Duration(x*x)*time.Millisecond), effect.Pure(3*x))
		}
		seq, err := interp.Run(context.Background(), interp.NewMock(), coll.Map(xs, f))
		if err != nil {
			rt.Fatal(err)
		}
		par, err := interp.Run(context.Background(), interp.NewMock(), coll.ParMap(xs, limit, f))
		if err != nil {
			rt.Fatal(err)
		}
		if fmt.Sprint(seq) != fmt.Sprint(par) {
			rt.Fatalf("Map %v, ParMap %v", seq, par)
		}
	})
}

func TestSortedStops(t *testing.T) {
	m := map[int]string{3: "c", 1: "a", 2: "b"}
	var seen []int
	for k := range coll.Sorted(m) {
		seen = append(seen, k)
		if k == 2 {
			break
		}
	}
	require.Equal(t, []int{1, 2}, seen)
	require.Equal(t, 3, coll.Entries(m)[2].Key)
}

// Fetch a price for each item, two at a time, and total them: the items
// come from a map, visited in key order.
func Example() {
	stock := map[string]int{"pear": 2, "apple": 5, "fig": 1}
	price := func(item string) effect.Eff[int] { return effect.Pure(len(item)) } // an activity, in life
	p := effect.Then(coll.ParMap(coll.Keys(stock), 2, price), func(prices []int) effect.Eff[int] {
		return coll.Reduce(prices, 0, func(acc, p int) effect.Eff[int] { return effect.Pure(acc + p) })
	})
	got, err := interp.Run(context.Background(), interp.NewMock(), p)
	fmt.Println(coll.Keys(stock), got, err)
	for k, v := range coll.Sorted(stock) {
		fmt.Print(k, ":", v, " ")
	}
	fmt.Println()
	// Output:
	// [apple fig pear] 12 <nil>
	// apple:5 fig:1 pear:2
}
