// Package goroutine tells goroutines apart. Go has no goroutine-local
// storage and no public goroutine identity; effect needs one to refuse a
// direct-style *Ctx used from a goroutine other than the one running its
// body. (stm keeps its own copy of the same few lines: its core imports
// only the standard library.)
//
// # Caveats
//
// Current is a few instructions of assembly on amd64 and arm64 (outside
// Windows). Elsewhere it parses the running goroutine's stack header, which
// is correct but costs about a microsecond a call.
package goroutine
