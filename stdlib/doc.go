// Package stdlib is amber's core SDK: ready effects for the outside world,
// so that the right way for a program to call it is the short way. Its
// packages import effect, never an interpreter; each performs its I/O in
// activities whose results are journaled, so a replay or a resumed task
// gets them back without calling out.
//
// # Packages
//
//	stdlib/http   HTTP requests as activities: responses journaled, retries with idempotency keys, body limits, JSON helpers, a VCR-style Cassette for tests
//	stdlib/sql    database/sql queries and execs as activities: rows decoded into structs and journaled
//	stdlib/rand   UUIDs (v4, v7) and random numbers drawn through the Random op
//	stdlib/timex  timeouts and deadlines on any effect, on durable timers
//	stdlib/cron   schedules as forever tasks, with catch-up and overlap policies
//	stdlib/coll   ForEach, Map, ParMap with a bound, Reduce, and maps in key order
//
// amber vet (package vet, command amber-vet) checks that programs use
// these rather than the standard library's clock, randomness and I/O.
package stdlib
