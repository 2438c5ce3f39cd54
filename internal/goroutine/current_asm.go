//go:build (amd64 || arm64) && !windows

package goroutine

// Current returns a number that identifies the running goroutine among the
// goroutines alive at the same time: the address of its runtime
// descriptor, never dereferenced. A goroutine that has ended may see its
// number reused by a later one.
func Current() uintptr
