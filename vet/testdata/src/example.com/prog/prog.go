package prog

import (
	crand "crypto/rand"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"time"

	"example.com/helper"
	"github.com/amberrt/amber/effect"
	"github.com/google/uuid"
)

var hits int        // written by record: changes // want hits:"mutable"
var greeting = "hi" // never written after its declaration

func record() { hits++ } // want record:"reaches global:writing prog.hits"

// Rule time.
var _ = effect.Do(func(e *effect.Ctx) int64 {
	return time.Now().Unix() // want `time.Now in the program body passed to effect.Do breaks replay \[time\]: use e.Now\(\)`
})

var _ = effect.Do(func(e *effect.Ctx) time.Duration {
	return 3 * time.Second // a duration is not the clock
})

// Rule rand.
var _ = effect.Do(func(e *effect.Ctx) int {
	b := make([]byte, 4)
	_, _ = crand.Read(b) // want `rand.Read in the program body .* \[rand\]`
	return mrand.IntN(6) // want `rand.IntN in the program body .* \[rand\]: use stdlib/rand`
})

var _ = effect.Do(func(e *effect.Ctx) int {
	r := mrand.New(mrand.NewPCG(1, 2)) // a seeded generator is deterministic
	return r.IntN(6)
})

// Rule go.
var _ = effect.Do(func(e *effect.Ctx) int {
	go func() {}() // want `a go statement in the program body .* \[go\]`
	return 0
})

var _ = effect.Do(func(e *effect.Ctx) int {
	f := func() int { return 1 } // a func literal is not a goroutine
	return f()
})

// Rule chan.
var _ = effect.Do(func(e *effect.Ctx) int {
	ch := make(chan int, 1)
	ch <- 1     // want `a channel send .* \[chan\]`
	return <-ch // want `a channel receive .* \[chan\]`
})

var _ = effect.Do(func(e *effect.Ctx) int {
	var ch chan int // declaring a channel does nothing
	return cap(ch)
})

// Rule select.
var _ = effect.Do(func(e *effect.Ctx) int {
	select { // want `a select statement .* \[select\]`
	default:
	}
	return 0
})

var _ = effect.Do(func(e *effect.Ctx) int {
	switch greeting { // a switch is fine
	case "hi":
		return 1
	}
	return 0
})

// Rule maprange.
var _ = effect.Do(func(e *effect.Ctx) int {
	n := 0
	for k := range map[string]int{"a": 1} { // want `ranging over a map .* \[maprange\]: map order changes`
		n += len(k)
	}
	for k := range maps.Keys(map[string]int{}) { // want `maps.Keys \(in map order\) .* \[maprange\]`
		n += len(k)
	}
	return n
})

var _ = effect.Do(func(e *effect.Ctx) int {
	n := 0
	for _, x := range []int{1, 2} { // a slice has an order
		n += x
	}
	return n
})

// Rule global.
var _ = effect.Do(func(e *effect.Ctx) int {
	hits = 3                     // want `writing prog.hits .* \[global\]`
	return hits + helper.Counter // want `reading prog.hits \(written elsewhere\) .* \[global\]` `reading helper.Counter \(written elsewhere\) .* \[global\]`
})

var _ = effect.Do(func(e *effect.Ctx) string {
	return fmt.Sprint(greeting, helper.Limit) // set once: fine
})

// Rule io.
var _ = effect.Do(func(e *effect.Ctx) int {
	fmt.Println("hello")                    // want `fmt.Println .* \[io\]`
	_, _ = os.ReadFile("x")                 // want `os.ReadFile .* \[io\]`
	_, _ = http.Get("http://x")             // want `http.Get .* \[io\]`
	_, _ = http.NewRequest("GET", "x", nil) // building a request does no I/O
	return len(fmt.Sprint("pure"))
})

// Rule uuid.
var _ = effect.Do(func(e *effect.Ctx) string {
	id := uuid.New() // want `uuid.New .* \[uuid\]: use stdlib/rand`
	_, _ = uuid.Parse("x")
	return string(id[:])
})

// Transitive: within the package, across packages, and through a named
// body.
func stamp() int64 { return time.Now().Unix() } // want stamp:"reaches time:time.Now"

func viaStamp() int64 { return stamp() } // want viaStamp:"reaches time:time.Now"

var _ = effect.Do(func(e *effect.Ctx) int64 {
	return viaStamp() // want `the program body passed to effect.Do calls prog.viaStamp → prog.stamp → time.Now \(prog.go:\d+\), which breaks replay \[time\]`
})

var _ = effect.Do(func(e *effect.Ctx) int64 {
	return helper.Stamp() // want `calls helper.Stamp → helper.later → time.Now \(helper.go:\d+\), which breaks replay \[time\]`
})

var _ = effect.Do(func(e *effect.Ctx) int {
	return helper.Double(2) + helper.Measured() // pure, and silenced at the source
})

func body(n int) effect.Eff[int64] { // want body:"reaches time:time.Now"
	return effect.Pure(time.Now().Unix() + int64(n)) // want `time.Now in prog.body, which builds a program`
}

var _ = effect.NewProgram("named", 1, body) // want `the program body passed to effect.NewProgram calls prog.body → time.Now`

var _ = effect.Then(effect.Now(), func(t int64) effect.Eff[int64] {
	return effect.Pure(t + time.Now().Unix()) // want `time.Now in the program body passed to effect.Then`
})

// Not a program: a handler may do I/O, and so may code outside programs.
var _ = effect.Handle(func(path string) ([]byte, error) { return os.ReadFile(path) })

func outside() int64 { return time.Now().Unix() } // want outside:"reaches time:time.Now"

// Silenced.
var _ = effect.Do(func(e *effect.Ctx) int64 {
	a := time.Now().Unix() //amber:ignore time logged, never branched on
	//amber:ignore time the line below is silenced too
	b := time.Now().Unix()
	c := viaStamp() //amber:ignore time the call is silenced
	return a + b + c
})

var _ = effect.Do(func(e *effect.Ctx) int64 {
	return time.Now().Unix() //amber:ignore rand the wrong rule silences nothing // want `time.Now in the program body`
})

//amber:ignore // want `//amber:ignore needs a rule`

// A function that returns a program builds it when the program runs: its
// body is program code too, as is a literal of such a function (a
// supervisor's child spec, say).
func step(n int) effect.Eff[int] { // want step:"reaches time:time.Now"
	return effect.Pure(n + int(time.Now().Unix())) // want `time.Now in prog.step, which builds a program, breaks replay \[time\]`
}

type child struct{ Start func(any) effect.Eff[string] }

var _ = child{Start: func(any) effect.Eff[string] {
	return effect.Pure(fmt.Sprint(mrand.Int())) // want `rand.Int in a function that builds a program breaks replay \[rand\]`
}}

func plain(n int) int { return n + int(time.Now().Unix()) } // want plain:"reaches time:time.Now"
