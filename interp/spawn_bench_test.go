package interp_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
)

// spawnBatch bounds how many processes (or goroutines) a benchmark keeps
// alive at once: each batch runs in a fresh interpreter.
const spawnBatch = 100_000

var spawnChild = effect.NewProgram("bench.child", 1, func(effect.Unit) effect.Eff[effect.Unit] {
	return effect.Receive[effect.Unit]()
})

// spawner spawns n children, each of which blocks on Receive.
func spawner(n int) effect.Eff[int] {
	spawn := effect.Spawn[effect.Unit](spawnChild, effect.Unit{})
	var loop func(i int) effect.Eff[int]
	loop = func(i int) effect.Eff[int] {
		if i == n {
			return effect.Pure(n)
		}
		return effect.Then(spawn, func(effect.PID[effect.Unit]) effect.Eff[int] { return loop(i + 1) })
	}
	return loop(0)
}

// BenchmarkSpawn measures a live task spawning tasks: the time per spawn,
// until every child has run and blocks on Receive, and the memory each
// blocked child holds (its task, machine, mailbox and its entry in the
// interpreter's table). Compare BenchmarkSpawnGoroutine.
func BenchmarkSpawn(b *testing.B) {
	var bytes, procs float64
	b.ReportAllocs()
	for done := 0; done < b.N; {
		n := min(spawnBatch, b.N-done)
		b.StopTimer()
		l := interp.NewLive(interp.WithLogger(quiet))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		got, err := interp.Run(context.Background(), l, spawner(n))
		if err != nil || got != n {
			b.Fatal(got, err)
		}
		l.WaitIdle()
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		bytes += float64(after.HeapAlloc+after.StackInuse) - float64(before.HeapAlloc+before.StackInuse)
		procs += float64(n)
		l.Close()
		done += n
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/spawn")
	b.ReportMetric(bytes/procs, "bytes/process")
}

// BenchmarkSpawnGoroutine is the baseline of BenchmarkSpawn: a goroutine
// starting goroutines that each block on a channel receive.
func BenchmarkSpawnGoroutine(b *testing.B) {
	var bytes, procs float64
	b.ReportAllocs()
	for done := 0; done < b.N; {
		n := min(spawnBatch, b.N-done)
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		release := make(chan struct{})
		started := make(chan struct{}, n)
		var exited sync.WaitGroup
		exited.Add(n)
		b.StartTimer()
		finished := make(chan struct{})
		go func() {
			for range n {
				go func() {
					defer exited.Done()
					started <- struct{}{}
					<-release
				}()
			}
			close(finished)
		}()
		<-finished
		for range n {
			<-started
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		// A goroutine's stack is not heap: count the stacks in use too.
		bytes += float64(after.HeapAlloc+after.StackInuse) - float64(before.HeapAlloc+before.StackInuse)
		procs += float64(n)
		close(release)
		exited.Wait()
		done += n
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/spawn")
	b.ReportMetric(bytes/procs, "bytes/process")
}
