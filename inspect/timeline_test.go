package inspect

import (
	"testing"
	"time"

	"github.com/amberrt/amber/task"
	"pgregory.net/rapid"
)

// TestTimelineLayout checks, for random journals, that every op is drawn
// inside the picture, in its fiber's lane, in journal order, and that an
// op is never drawn as ending before it starts.
func TestTimelineLayout(t *testing.T) {
	kinds := []string{"effect.NowOp", "effect.ReceiveOp[main.Order]", "effect.SleepOp", "main.Charge", "effect.SpawnOp", "main.Fetch"}
	rapid.Check(t, func(rt *rapid.T) {
		created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		n := rapid.IntRange(0, 60).Draw(rt, "entries")
		at := created
		var j task.Journal
		for i := range n {
			at = at.Add(time.Duration(rapid.Int64Range(0, int64(time.Hour)).Draw(rt, "gap")))
			e := task.Entry{Seq: uint64(i + 1), Fiber: uint32(rapid.IntRange(0, 3).Draw(rt, "fiber")),
				Kind: rapid.SampledFrom(kinds).Draw(rt, "kind"), Time: at}
			if rapid.Bool().Draw(rt, "failed") {
				e.Err = &task.Error{Msg: "no"}
			}
			j = append(j, e)
		}
		var pending []task.OpState
		for range rapid.IntRange(0, 2).Draw(rt, "pending") {
			pending = append(pending, task.OpState{Fiber: uint32(rapid.IntRange(0, 3).Draw(rt, "pfiber")), Kind: "main.Charge",
				Phase:   rapid.SampledFrom([]string{task.PhaseRunning, task.PhaseBackoff, task.PhaseTimer}).Draw(rt, "phase"),
				Attempt: 1, Started: at, Until: at.Add(time.Duration(rapid.Int64Range(-int64(time.Hour), int64(48*time.Hour)).Draw(rt, "until")))})
		}
		now := at.Add(time.Duration(rapid.Int64Range(0, int64(time.Hour)).Draw(rt, "now")))
		from := rapid.IntRange(0, n).Draw(rt, "from")
		to := rapid.IntRange(from, n).Draw(rt, "to")

		starts := issueTimes(j, created)
		for i, e := range j {
			if starts[i].After(e.Time) {
				rt.Fatalf("entry #%d issued at %v after its result at %v", e.Seq, starts[i], e.Time)
			}
		}
		tl := layoutTimeline(j, starts, from, to, pending, now, rapid.Bool().Draw(rt, "linear"))
		if want := to - from + len(pending); len(tl.Items) != want {
			rt.Fatalf("%d shapes for %d ops", len(tl.Items), want)
		}
		if want := to - from + len(pending); tl.Empty != (want == 0) {
			rt.Fatalf("Empty = %v with %d ops", tl.Empty, want)
		}
		lanes := map[float64]bool{}
		for _, l := range tl.Lanes {
			lanes[l.Y] = true
		}
		for i := 1; i < len(tl.Ticks); i++ {
			if tl.Ticks[i].X <= tl.Ticks[i-1].X {
				rt.Fatalf("ticks out of order: %+v", tl.Ticks)
			}
		}
		lastX := -1.0
		for i, sh := range tl.Items {
			end := sh.X + sh.W
			if sh.X < tlLeft-1e-9 || end > tlWidth-tlRight+1e-9 || sh.W < 0 {
				rt.Fatalf("shape %d (%s) spans %.2f..%.2f, outside %v..%v", i, sh.Title, sh.X, end, tlLeft, tlWidth-tlRight)
			}
			laneY := sh.Y - (tlLane-tlBar)/2
			if !sh.Bar {
				laneY = sh.Y - tlLane/2
			}
			if !lanes[laneY] {
				rt.Fatalf("shape %d (%s) is in no lane (y %.1f)", i, sh.Title, sh.Y)
			}
			if i < to-from {
				if sh.Seq != j[from+i].Seq {
					rt.Fatalf("shape %d is #%d, want #%d", i, sh.Seq, j[from+i].Seq)
				}
				if end+tlMinBar < lastX {
					rt.Fatalf("#%d ends at %.2f, before #%d ended (%.2f)", sh.Seq, end, sh.Seq-1, lastX)
				}
				lastX = max(lastX, end)
			}
		}
	})
}

func TestWaitWords(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		w    *task.Wait
		want []string
	}{
		{nil, nil},
		{&task.Wait{Kind: task.WaitReceive, Types: []string{"shop.Order", "shop.Cancel"}, Until: now.Add(5 * time.Second)},
			[]string{"a message of type shop.Order or shop.Cancel, or a timeout at 2026-01-01T12:00:05Z (in 5s)"}},
		{&task.Wait{Kind: task.WaitSleep, Until: now.Add(time.Minute), Ops: []task.OpState{{Fiber: 0, Kind: "effect.SleepOp", Phase: task.PhaseTimer, Until: now.Add(time.Minute)}}},
			[]string{"a timer firing at 2026-01-01T12:01:00Z (in 1m0s)", "fiber 0: effect.SleepOp, timer firing at 2026-01-01T12:01:00Z (in 1m0s)"}},
		{&task.Wait{Kind: task.WaitActivity, Detail: "shop.Charge", Ops: []task.OpState{{Fiber: 1, Kind: "shop.Charge", Phase: task.PhaseBackoff, Attempt: 2, Until: now.Add(4 * time.Second)}}},
			[]string{"the activity shop.Charge to complete", "fiber 1: shop.Charge, attempt 2 failed; attempt 3 at 2026-01-01T12:00:04Z (in 4s)"}},
		{&task.Wait{Kind: task.WaitActivity, Detail: "shop.Charge", Ops: []task.OpState{{Fiber: 0, Kind: "shop.Charge", Phase: task.PhaseRunning, Attempt: 1, Started: now.Add(-3 * time.Second)}}},
			[]string{"the activity shop.Charge to complete", "fiber 0: shop.Charge, attempt 1 running, first started 3s ago"}},
		{&task.Wait{Kind: task.WaitSTM, Detail: "stock"}, []string{"an STM retry: a change to a var its transaction read (stock)"}},
		{&task.Wait{Kind: task.WaitJoin}, []string{"other fibers or tasks to finish"}},
		{&task.Wait{Kind: "future", Detail: "x"}, []string{"future x"}},
	} {
		got := waitWords(c.w, now)
		if len(got) != len(c.want) {
			t.Fatalf("%+v: got %q, want %q", c.w, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%+v: got %q, want %q", c.w, got[i], c.want[i])
			}
		}
	}
}

// TestIssueTimes: parallel fibers forked together start together, at the
// forking fiber's last result, and the root fiber goes on after the join.
func TestIssueTimes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	j := task.Journal{
		{Seq: 1, Fiber: 0, Time: ms(5)},  // fiber 0 reads the clock, then forks 1 and 2
		{Seq: 2, Fiber: 2, Time: ms(20)}, // fiber 2's first op, issued at 5
		{Seq: 3, Fiber: 1, Time: ms(30)}, // fiber 1's first op, issued at 5 too
		{Seq: 4, Fiber: 1, Time: ms(40)}, // fiber 1's second op, issued at 30
		{Seq: 5, Fiber: 0, Time: ms(41)}, // fiber 0 after the join, issued at 40
	}
	want := []time.Time{t0, ms(5), ms(5), ms(30), ms(40)}
	check := func(j task.Journal, want []time.Time) {
		t.Helper()
		got := issueTimes(j, t0)
		for i := range want {
			if !got[i].Equal(want[i]) {
				t.Errorf("#%d issued at %v, want %v", j[i].Seq, got[i].Sub(t0), want[i].Sub(t0))
			}
		}
	}
	check(j, want)
	// In fork order: fiber 2's first op is issued with fiber 1's, not
	// after fiber 1's results.
	check(task.Journal{
		{Seq: 1, Fiber: 0, Time: ms(5)},
		{Seq: 2, Fiber: 1, Time: ms(20)}, // issued at 5
		{Seq: 3, Fiber: 1, Time: ms(25)}, // issued at 20
		{Seq: 4, Fiber: 2, Time: ms(30)}, // issued at 5, with fiber 1's first
		{Seq: 5, Fiber: 0, Time: ms(31)}, // after the join: 30
	}, []time.Time{t0, ms(5), ms(20), ms(5), ms(30)})
	// A fiber forked by fiber 1 after fiber 2 began: after the results
	// of the fibers before it.
	check(task.Journal{
		{Seq: 1, Fiber: 0, Time: ms(5)},
		{Seq: 2, Fiber: 1, Time: ms(20)}, // issued at 5
		{Seq: 3, Fiber: 2, Time: ms(22)}, // issued at 5 (sibling of 1)
		{Seq: 4, Fiber: 1, Time: ms(25)}, // issued at 20
		{Seq: 5, Fiber: 3, Time: ms(40)}, // forked by fiber 1 after 25: not a sibling of 2
	}, []time.Time{t0, ms(5), ms(5), ms(20), ms(25)})
}
