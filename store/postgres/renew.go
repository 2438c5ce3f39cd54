package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/amberrt/amber/store"
)

// Renew implements store.Store: one statement for all of ls.
func (s *Store) Renew(ctx context.Context, owner string, now time.Time, lease time.Duration, ls ...store.Lease) ([]string, error) {
	if len(ls) == 0 {
		return nil, nil
	}
	ids := make([]string, len(ls))
	epochs := make([]int64, len(ls))
	for i, l := range ls {
		ids[i], epochs[i] = l.ID, int64(l.Epoch)
	}
	rows, err := s.pool.Query(ctx, `
		UPDATE tasks SET lease_until = $2
		FROM unnest($3::text[], $4::bigint[]) AS l(id, epoch)
		WHERE tasks.id = l.id AND tasks.lease_owner = $1 AND tasks.lease_epoch = l.epoch AND `+notFinal+`
		RETURNING tasks.id, l.epoch`, owner, nano(now.Add(lease)), ids, epochs)
	if err != nil {
		return nil, fmt.Errorf("postgres: renew leases: %w", err)
	}
	type held struct {
		id    string
		epoch int64
	}
	kept := map[held]bool{}
	for rows.Next() {
		var k held
		if err := rows.Scan(&k.id, &k.epoch); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: renew leases: %w", err)
		}
		kept[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: renew leases: %w", err)
	}
	var lost []string
	for i, id := range ids {
		if !kept[held{id, epochs[i]}] {
			lost = append(lost, id)
		}
	}
	return lost, nil
}
