//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// fileLock is an exclusive flock on the sidecar file of a database. The
// kernel releases it when the process ends, however it ends, so a lock
// that is held proves its holder alive. The file is never removed: a
// process that opened it just before a removal would lock a file that no
// one else sees.
type fileLock struct{ f *os.File }

// lockFile takes the lock of the database at path, or reports who holds
// it.
func lockFile(path string) (*fileLock, error) {
	f, err := os.OpenFile(lockPath(path), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: path, Holder: holder}
		}
		return nil, fmt.Errorf("lock %s: %w", lockPath(path), err)
	}
	// Who holds it, for the error of the next opener: a courtesy, so
	// that failing to write it fails nothing.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(holderLine()), 0)
	}
	return &fileLock{f}, nil
}

// release gives the lock up (nil: nothing to release).
func (l *fileLock) release() {
	if l == nil {
		return
	}
	l.f.Truncate(0)
	l.f.Close() // closing the descriptor releases the flock
}
