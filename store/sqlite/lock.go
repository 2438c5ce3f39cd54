package sqlite

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// ErrLocked is matched by the error of opening, as a worker, a database
// whose lock another process (or another Store of this one) holds: a
// SQLite store has one worker process.
var ErrLocked = errors.New("sqlite: the database is in use by another worker")

// LockedError reports that another worker holds a database's lock. It
// matches ErrLocked.
type LockedError struct {
	Path   string // the database file
	Holder string // "pid 123 on host h since 2030-01-02T03:04:05Z", as the holder wrote it; "" if unknown
}

// Error names the file and its holder, and says what to do.
func (e *LockedError) Error() string {
	holder := e.Holder
	if holder == "" {
		holder = "another process"
	}
	return fmt.Sprintf("%s is in use by %s: a SQLite store has one worker process "+
		"(use store/postgres to run several; open it with ModeClient or ModeReadOnly beside its worker)", e.Path, holder)
}

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// lockPath is the sidecar file whose lock the worker of the database at
// path holds, and in which it writes who it is.
func lockPath(path string) string { return path + ".lock" }

// holderLine says who holds the lock.
func holderLine() string {
	host, err := os.Hostname()
	if err != nil {
		host = "?"
	}
	return fmt.Sprintf("pid %d on host %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
}

// readHolder reads who holds the lock of f, from the line it wrote.
func readHolder(f *os.File) string {
	b := make([]byte, 256)
	n, _ := f.ReadAt(b, 0)
	line, _, _ := strings.Cut(string(b[:n]), "\n")
	return strings.TrimSpace(line)
}
