package crashtest

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/crashtest/supjob"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

func TestSupCrashSQLite(t *testing.T) { supTorture(t, sqliteBackend(t)) }

func TestSupCrashPostgres(t *testing.T) { supTorture(t, postgresBackend(t)) }

// supTorture starts the supervision worker, kills it with SIGKILL at
// seeded random moments several times, lets it finish, and checks that
// the supervisor lost no restart and made none twice.
func supTorture(t *testing.T, b backend) {
	rng := rand.New(rand.NewPCG(crashSeed(t), 2))
	bin := build(t, "supworker", raceEnabled) // the supervision worker, with the race detector if the test has it
	args := append([]string{"-lease", "1s"}, b.args...)

	start := time.Now()
	kills := killRuns(t, bin, args, rng, 4, 30*time.Millisecond, 350*time.Millisecond)
	t.Logf("killed the worker %d times, after %v", len(kills), kills)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st := b.open(t)
	snap, err := supjob.Read(ctx, st)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	t.Logf("before the last run: %s", snap.Short())
	final := time.Now()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "ALL DONE")
	t.Logf("the last run took %v, all runs %v", time.Since(final).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	st = b.open(t)
	defer st.Close()
	snap, err = supjob.Read(ctx, st)
	require.NoError(t, err)
	t.Logf("outcome:\n%s", snap)
	logStalls(t, snap)

	// The supervisor still runs, with nothing left in its mailbox.
	require.True(t, snap.SupFound, "the supervisor exists")
	require.False(t, snap.Sup.Status.Final(), "the supervisor is still up: %s %s", snap.Sup.Status, snap.Sup.Reason)
	require.NotEqual(t, task.Parked, snap.Sup.Status, snap.Sup.Reason)
	require.Zero(t, snap.Sup.Pending, "the supervisor has taken every exit signal")
	sup, _, err := st.Load(ctx, supjob.SupID)
	require.NoError(t, err)
	require.NoError(t, sup.Journal.Validate(), "the supervisor's journal is gap-free without duplicates")
	// Its journal: every child spawned and linked once, and its exit
	// received once.
	spawned, linked, exits := map[string]int{}, map[string]int{}, map[string][]string{}
	for _, en := range sup.Journal {
		switch {
		case strings.HasSuffix(en.Kind, "SpawnOp"):
			var id string
			require.NoError(t, task.Unmarshal(en.Result, &id))
			spawned[id]++
		case en.Kind == "effect.LinkOp":
			var op effect.LinkOp
			require.NoError(t, task.Unmarshal(en.Op, &op))
			linked[op.ID]++
		case strings.HasPrefix(en.Kind, "effect.ReceiveOp[") && strings.HasSuffix(en.Kind, "effect.Exit]"):
			var x effect.Exit
			require.NoError(t, task.Unmarshal(en.Result, &x))
			exits[x.From] = append(exits[x.From], x.Reason)
		}
	}
	want := supjob.Slots * (supjob.Crashes + 1)
	require.Len(t, spawned, want, "the supervisor spawned each slot's child once per crash, plus the first\n%s", sup.Journal)
	for _, c := range snap.Children {
		id := c.Rec.ID
		require.Equal(t, 1, spawned[id], "child %s spawned once\n%s", id, sup.Journal)
		require.Equal(t, 1, linked[id], "child %s linked once\n%s", id, sup.Journal)
		reason := effect.ExitNormal
		if c.Rec.Status == task.Failed {
			reason = c.Rec.Reason
		}
		require.Equal(t, []string{reason}, exits[id], "the supervisor received child %s's exit once\n%s", id, sup.Journal)
	}

	// Per slot: exactly Crashes failed children, each with its own crash,
	// and one done; nothing else.
	require.Len(t, snap.Children, want, "one child per start\n%s", snap)
	var done, failed [supjob.Slots]int
	var crashes [supjob.Slots]map[string]bool
	for _, c := range snap.Children {
		rec := c.Rec
		require.NoError(t, rec.Journal.Validate(), "journal of %s is gap-free without duplicates", rec.ID)
		require.Equal(t, supjob.SupID, rec.Parent, "child %s", rec.ID)
		require.True(t, c.Slot >= 0 && c.Slot < supjob.Slots, "child %s: slot %d", rec.ID, c.Slot)
		switch rec.Status {
		case task.Done:
			done[c.Slot]++
		case task.Failed:
			failed[c.Slot]++
			if crashes[c.Slot] == nil {
				crashes[c.Slot] = map[string]bool{}
			}
			n := 0
			for i := 1; i <= supjob.Crashes; i++ {
				if strings.Contains(rec.Reason, supjob.CrashMessage(c.Slot, i)) {
					n = i
				}
			}
			require.NotZero(t, n, "child %s (slot %d) failed by its own crash, not %q", rec.ID, c.Slot, rec.Reason)
			require.False(t, crashes[c.Slot][supjob.CrashMessage(c.Slot, n)], "child %s: crash %d of slot %d happened once", rec.ID, n, c.Slot)
			crashes[c.Slot][supjob.CrashMessage(c.Slot, n)] = true
		default:
			t.Fatalf("child %s (slot %d) is %s: %s", rec.ID, c.Slot, rec.Status, rec.Reason)
		}
	}
	world, err := st.World(ctx)
	require.NoError(t, err)
	for slot := range supjob.Slots {
		require.Equal(t, 1, done[slot], "slot %d ended normally once\n%s", slot, snap)
		require.Equal(t, supjob.Crashes, failed[slot], "slot %d crashed %d times, each restarted once\n%s", slot, supjob.Crashes, snap)
		v, ok := world.Lookup(supjob.CounterName(slot))
		require.True(t, ok, "the crash counter of slot %d is stored", slot)
		var n int
		require.NoError(t, task.Unmarshal(v.Value, &n))
		require.Equal(t, supjob.Crashes, n, "the crash counter of slot %d", slot)
	}
}

// logStalls logs the waits of more than half a second between a child's
// creation and its first entry, or between two of its entries: kills leave
// leases to expire, and a stall without a kill is worth a look.
func logStalls(t *testing.T, snap *supjob.Snapshot) {
	for _, c := range snap.Children {
		prev := c.Rec.Created
		for _, en := range c.Rec.Journal {
			if gap := en.Time.Sub(prev); gap > 500*time.Millisecond {
				t.Logf("stall: %s waited %v for entry %s", c.Rec.ID, gap.Round(time.Millisecond), en.String())
			}
			prev = en.Time
		}
	}
}
