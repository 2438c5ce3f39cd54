package sqlite

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

var statSlow, statSlowT, statSteps, statCommits, statBatches, statReqs, statBusy, statCommit, statIdle atomic.Int64

func init() {
	if os.Getenv("SQSTATS") == "" {
		return
	}
	go func() {
		for range time.Tick(time.Second) {
			b, r := statBatches.Swap(0), statReqs.Swap(0)
			fmt.Fprintf(os.Stderr, "slow %d %v ", statSlow.Swap(0), time.Duration(statSlowT.Swap(0)))
			fmt.Fprintf(os.Stderr, "commits %d steps %d ", statCommits.Swap(0), statSteps.Swap(0))
			fmt.Fprintf(os.Stderr, "batches %d reqs %d busy %v commit %v idle %v\n", b, r,
				time.Duration(statBusy.Swap(0)), time.Duration(statCommit.Swap(0)), time.Duration(statIdle.Swap(0)))
		}
	}()
}
