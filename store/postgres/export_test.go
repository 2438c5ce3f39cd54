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

// Migration is an embedded migration (loadMigrations), for tests that make
// a schema of an earlier version.
type Migration struct {
	Version   int
	Name, SQL string
}

// Migrations returns the embedded migrations in order of version.
func Migrations() ([]Migration, error) {
	ms, err := loadMigrations()
	out := make([]Migration, len(ms))
	for i, m := range ms {
		out[i] = Migration{m.version, m.name, m.sql}
	}
	return out, err
}
