package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"testing"

	"github.com/amberrt/amber/task"
)

// FuzzDecodeMigrations: the column migrations read back from a file is
// either a list of migrations, which encodes to what decodes to it again,
// or a *store.CorruptError naming the task; never a panic.
func FuzzDecodeMigrations(f *testing.F) {
	f.Add(`[{"from":1,"to":2,"at":"2030-01-02T03:04:05Z"}]`)
	f.Add(`[]`)
	f.Add(`{"from":1}`)
	f.Add(`[{"from":"x"}]`)
	f.Fuzz(func(t *testing.T, col string) {
		ms, err := decodeMigrations("t", sql.NullString{String: col, Valid: true})
		if err != nil {
			if !errors.Is(err, task.ErrCorrupt) {
				t.Fatalf("error %v does not match task.ErrCorrupt", err)
			}
			return
		}
		b, err := json.Marshal(ms)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeMigrations("t", sql.NullString{String: string(b), Valid: true})
		if err != nil || len(again) != len(ms) {
			t.Fatalf("%s decodes to %v, %v; want %v", b, again, err, ms)
		}
	})
}
