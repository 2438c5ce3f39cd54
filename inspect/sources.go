package inspect

import (
	"context"

	"github.com/amberrt/amber/store"
)

// storeVersions is the VersionSource of a store: its versions
// (store.Store.Versions) and its change log (store.Store.Changes).
type storeVersions struct{ st store.Store }

var _ VersionSource = storeVersions{}

func (s storeVersions) ProgramVersions(ctx context.Context) ([]ProgramVersion, error) {
	vis, err := s.st.Versions(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]ProgramVersion, 0, len(vis))
	for _, vi := range vis {
		out = append(out, ProgramVersion{Program: vi.Program, Version: vi.Version, Current: vi.Current, Retired: vi.Retired,
			InFlight: vi.InFlight, Finished: vi.Finished, Drain: string(vi.Drain), Oldest: vi.Oldest, Workers: vi.Workers})
	}
	return out, nil
}

// VersionChanges reads the whole log (it holds a line per change of a
// current version, retirement and migration: few) and keeps its end.
func (s storeVersions) VersionChanges(ctx context.Context, limit int) ([]VersionChange, error) {
	cs, err := s.st.Changes(ctx, 0)
	if err != nil {
		return nil, err
	}
	return newestFirst(cs, limit, func(c store.Change) VersionChange {
		return VersionChange{Seq: c.Seq, At: c.At, Kind: c.Kind, Program: c.Program, Version: c.Version, Detail: string(c.Data)}
	}), nil
}

// newestFirst converts the last limit entries of log (oldest first, as
// the store returns them) with conv, newest first.
func newestFirst[E, V any](log []E, limit int, conv func(E) V) []V {
	log = log[max(len(log)-limit, 0):]
	out := make([]V, len(log))
	for i, e := range log {
		out[len(log)-1-i] = conv(e)
	}
	return out
}
