package postgres

import "context"

// SetBeforeCommit makes every Commit of s call f after its rows are locked
// and before its writes and COMMIT are sent: where a test breaks the
// connection.
func SetBeforeCommit(s *Store, f func(ctx context.Context)) { s.beforeCommit = f }

// SetCopyMin makes CreateClaimed of s copy its tasks from n of them on.
func SetCopyMin(s *Store, n int) { s.copyMin = n }

// Copies is the number of CreateClaimed calls of s that copied their tasks.
func Copies(s *Store) int64 { return s.copies.Load() }
