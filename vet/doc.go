// Package vet is amber vet: a go/analysis analyzer that finds, in program
// bodies and in what they call, what breaks replay, so that the
// determinism contract is checked rather than remembered.
//
//	amber vet ./...                         # or, on its own:
//	go run github.com/amberrt/amber/cmd/amber-vet ./...
//	go vet -vettool=$(which amber-vet) ./...
//
// # Program bodies
//
// A program body is a function passed to a function whose result is an
// effect.Eff or an *effect.Program (effect.Do and effect.DoErr,
// effect.NewProgram, the continuations of effect.Then, effect.Map and
// effect.Catch, coll.ParMap's function, and so on), as a function literal
// or by name; and a function whose own result is an effect.Eff or an
// *effect.Program (a helper that builds a step, a supervisor child's
// Start), which runs when the program does. In amber's own packages only
// the first kind is checked. The analyzer checks the body
// and, transitively, the functions it calls that are declared in the same
// module (through facts, across packages); it does not follow calls
// through interfaces or function values, nor into other modules, whose
// own calls to the standard library it does not see, nor into amber's own
// packages, which programs are made to call.
//
// # Rules
//
// Each finding names its rule, the way from the program body to the
// offending call, and what to use instead:
//
//	time      time.Now, Since, Until, Sleep, After, Tick, timers
//	rand      math/rand and math/rand/v2 (but their New...), crypto/rand
//	go        go statements
//	chan      channel sends and receives, ranging over a channel
//	select    select statements
//	maprange  ranging over a map; maps.Keys, maps.Values, maps.All,
//	          lo.Keys, lo.Values, lo.Entries (their order changes)
//	global    writing a package-level variable; reading one that some
//	          function of its package writes (one set once, by its
//	          declaration or an init function, is fine)
//	io        os, os/exec, net and net/... (but building requests),
//	          io.ReadAll and the like, fmt.Print*, log and slog output
//	uuid      github.com/google/uuid's and gofrs/uuid's New...
//
// # Silencing a finding
//
// A comment //amber:ignore RULE REASON on the line of a finding, or on
// the line above it, silences that rule there. In a function that a
// program calls, it also keeps the finding out of what the function
// reaches:
//
//	start := time.Now() //amber:ignore time measured for a log line only, never branched on
//
// # Guarantees
//
// The analyzer does no work on the packages of the standard library
// (they hold no programs), visits each function once per package, and
// recovers from its own bugs as an error of the package it was looking
// at: it does not hang or crash on any tree that type-checks.
package vet
