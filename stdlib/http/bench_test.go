package http_test

import (
	"context"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stdlib/http"
)

// BenchmarkHTTPReplay compares, in one run, the rate of requests a task
// makes live to a local server (the Live interpreter, journaling) with the
// rate at which a replay returns them from the journal. Each iteration is
// one task of 100 sequential GETs, run live and then replayed.
func BenchmarkHTTPReplay(b *testing.B) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprint(w, `{"ok": true, "n": 12345}`)
	}))
	defer srv.Close()
	const n = 100
	prog := effect.NewProgram("bench", 1, func(effect.Unit) effect.Eff[int] {
		return effect.Do(func(e *effect.Ctx) int {
			total := 0
			for range n {
				total += len(http.Get(e, srv.URL+"/x").Body)
			}
			return total
		})
	})
	live := interp.NewLive(interp.WithJournal())
	defer live.Close()
	ctx := context.Background()
	var liveTime, replayTime time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		tk, err := interp.StartProgram(live, prog, effect.Unit{})
		if err != nil {
			b.Fatal(err)
		}
		want, err := tk.Wait(ctx)
		if err != nil {
			b.Fatal(err)
		}
		liveTime += time.Since(start)
		j, err := tk.Journal()
		if err != nil {
			b.Fatal(err)
		}

		start = time.Now()
		r, err := interp.Replay(ctx, prog, effect.Unit{}, j)
		if err != nil || r.Result != want {
			b.Fatalf("replay: %v, %v; want %v", r, err, want)
		}
		replayTime += time.Since(start)
	}
	reqs := float64(n * b.N)
	b.ReportMetric(reqs/liveTime.Seconds(), "live-req/s")
	b.ReportMetric(reqs/replayTime.Seconds(), "replay-req/s")
	b.ReportMetric(liveTime.Seconds()/replayTime.Seconds(), "replay/live")
}
