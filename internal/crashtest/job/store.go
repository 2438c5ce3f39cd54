package job

import (
	"context"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/sqlite"
)

// OpenStore opens the store a worker binary's flags name: PostgreSQL at
// url in schema if url is set, the SQLite file db otherwise.
func OpenStore(ctx context.Context, db, url, schema string) (store.Store, error) {
	if url != "" {
		return postgres.Open(ctx, url, &postgres.Options{Schema: schema})
	}
	return sqlite.Open(db, nil)
}
