package memstore

import (
	"context"
	"time"

	"github.com/amberrt/amber/store"
)

// Renew implements store.Store.
func (m *Store) Renew(ctx context.Context, owner string, now time.Time, d time.Duration, ls ...store.Lease) ([]string, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var lost []string
	for _, l := range ls {
		t := m.tasks[l.ID]
		if t == nil || t.rec.Status.Final() || t.owner != owner || t.epoch != l.Epoch {
			lost = append(lost, l.ID)
			continue
		}
		t.until = now.Add(d)
	}
	return lost, nil
}
