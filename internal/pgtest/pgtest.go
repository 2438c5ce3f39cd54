// Package pgtest gives a test a PostgreSQL store of its own: a fresh
// schema of the database named by AMBER_TEST_POSTGRES, dropped when the
// test ends, so that tests (and helpers running tests at the same time)
// never see each other's tasks. Without AMBER_TEST_POSTGRES the test is
// skipped, with a message that says how to run it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/amberrt/amber/store/postgres"
)

// Env is the environment variable that holds the test database's URL.
const Env = "AMBER_TEST_POSTGRES"

// URL returns the test database's URL, or skips t if Env is not set.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(Env)
	if url == "" {
		t.Skip("set " + Env + "=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL tests")
	}
	return url
}

// Schema returns the name of a new schema (prefix, then random hex) that
// is dropped when t ends, and the database's URL. It skips t if Env is
// not set.
func Schema(t testing.TB, prefix string) (url, schema string) {
	t.Helper()
	url = URL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = prefix + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return url, schema
}

// Open opens a store in a new schema (see Schema), closed when t ends
// (before the schema is dropped).
func Open(t testing.TB, prefix string) *postgres.Store {
	t.Helper()
	url, schema := Schema(t, prefix)
	st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatalf("opening a PostgreSQL store in schema %s: %v", schema, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
