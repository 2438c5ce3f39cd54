package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/amberrt/amber/store"
)

// renewQuery extends a lease its owner still holds under its epoch.
const renewQuery = `UPDATE tasks SET lease_until = ? WHERE id = ? AND lease_owner = ? AND lease_epoch = ? AND ` + notFinal

// Renew implements store.Store: one statement per lease, all in one
// write transaction.
func (s *Store) Renew(ctx context.Context, owner string, now time.Time, d time.Duration, ls ...store.Lease) ([]string, error) {
	if len(ls) == 0 {
		return nil, nil
	}
	if err := s.workerOnly(); err != nil {
		return nil, err
	}
	var lost []string
	until := now.Add(d).UnixNano()
	err := s.submit(ctx, func(w *wtx) (refused, err error) {
		lost = lost[:0] // the writer may apply a request again, in a batch that retries
		for _, l := range ls {
			res, err := w.exec(renewQuery, until, l.ID, owner, int64(l.Epoch))
			if err != nil {
				return nil, fmt.Errorf("sqlite: renew the lease of %s: %w", l.ID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return nil, fmt.Errorf("sqlite: renew the lease of %s: %w", l.ID, err)
			}
			if n == 0 {
				lost = append(lost, l.ID)
			}
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return lost, nil
}
