//go:build !unix

package sqlite

// fileLock is not implemented on this platform: Open does not refuse a
// second worker process (see the package documentation, Caveats).
type fileLock struct{}

func lockFile(path string) (*fileLock, error) { return nil, nil }

func (l *fileLock) release() {}
