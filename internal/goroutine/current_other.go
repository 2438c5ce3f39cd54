//go:build !((amd64 || arm64) && !windows)

package goroutine

import "runtime"

// Current returns a number that identifies the running goroutine among the
// goroutines alive at the same time: its id, parsed from its stack header.
// It is the portable (and slower) stand-in for the assembly version.
func Current() uintptr {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := buf[:n]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		return 0
	}
	var id uintptr
	for _, c := range b[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uintptr(c-'0')
	}
	return id
}
