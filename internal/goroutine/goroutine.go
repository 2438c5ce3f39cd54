// Package goroutine tells goroutines apart. Go has no goroutine-local
// storage and no public goroutine identity, and two amber packages need
// one: stm, to refuse a transaction nested in another on the same
// goroutine, and effect, to refuse a direct-style *Ctx used from a
// goroutine other than the one running its body.
//
// # Caveats
//
// Current is a few instructions of assembly on amd64 and arm64 (outside
// Windows). Elsewhere it parses the running goroutine's stack header, which
// is correct but costs about a microsecond a call.
package goroutine
