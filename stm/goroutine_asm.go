//go:build (amd64 || arm64) && !windows

package stm

// curg returns the address of the running goroutine's runtime descriptor. It
// is unique among live goroutines, which is all the nesting check needs; it is
// never dereferenced.
func curg() uintptr
