package sqlite

import (
	"runtime"
	"sync"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

var statSlow, statSlowT, statSteps, statCommits, statBatches, statReqs, statBusy, statCommit, statIdle atomic.Int64

var kinds sync.Map

func statKind(skip int) {
	pc, _, _, _ := runtime.Caller(skip + 1)
	n := runtime.FuncForPC(pc).Name()
	v, _ := kinds.LoadOrStore(n, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func init() {
	if os.Getenv("SQSTATS") == "" {
		return
	}
	go func() {
		for range time.Tick(time.Second) {
			b, r := statBatches.Swap(0), statReqs.Swap(0)
			kinds.Range(func(k, v any) bool { fmt.Fprintf(os.Stderr, "%s=%d ", k, v.(*atomic.Int64).Swap(0)); return true })
			fmt.Fprintf(os.Stderr, "slow %d %v ", statSlow.Swap(0), time.Duration(statSlowT.Swap(0)))
			fmt.Fprintf(os.Stderr, "commits %d steps %d ", statCommits.Swap(0), statSteps.Swap(0))
			fmt.Fprintf(os.Stderr, "batches %d reqs %d busy %v commit %v idle %v\n", b, r,
				time.Duration(statBusy.Swap(0)), time.Duration(statCommit.Swap(0)), time.Duration(statIdle.Swap(0)))
		}
	}()
}
