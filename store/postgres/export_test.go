package postgres

import "context"

// SetBeforeCommit makes every Commit of s call f after its rows are locked
// and before its writes and COMMIT are sent: where a test breaks the
// connection.
func SetBeforeCommit(s *Store, f func(ctx context.Context)) { s.beforeCommit = f }
