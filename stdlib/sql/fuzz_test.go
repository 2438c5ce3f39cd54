package sql_test

import (
	"context"
	gosql "database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stdlib/sql"
)

// fuzzDriver answers every query with the rows its data describes:
// the data is read as a column count, then values, each a kind byte and
// its bytes (int64, float64, bool, string, []byte, time, nil).
type fuzzDriver struct{}

var fuzzRows = map[string][]byte{}

func (fuzzDriver) Open(name string) (driver.Conn, error) { return fuzzConn{name}, nil }

type fuzzConn struct{ name string }

func (c fuzzConn) Prepare(string) (driver.Stmt, error) { return fuzzStmt(c), nil }
func (fuzzConn) Close() error                          { return nil }
func (fuzzConn) Begin() (driver.Tx, error)             { return nil, errors.New("no transactions") }

type fuzzStmt struct{ name string }

func (fuzzStmt) Close() error                               { return nil }
func (fuzzStmt) NumInput() int                              { return -1 }
func (fuzzStmt) Exec([]driver.Value) (driver.Result, error) { return driver.RowsAffected(0), nil }
func (s fuzzStmt) Query([]driver.Value) (driver.Rows, error) {
	return newFuzzRows(fuzzRows[s.name]), nil
}

type rowsOf struct {
	cols []string
	data []byte
}

func newFuzzRows(data []byte) *rowsOf {
	n := 1
	if len(data) > 0 {
		n = 1 + int(data[0]%4)
		data = data[1:]
	}
	cols := []string{"id", "cents", "placed", "note"}[:n]
	return &rowsOf{cols: cols, data: data}
}

func (r *rowsOf) Columns() []string { return r.cols }
func (r *rowsOf) Close() error      { return nil }

func (r *rowsOf) Next(dest []driver.Value) error {
	if len(r.data) == 0 {
		return io.EOF
	}
	for i := range dest {
		dest[i] = r.value()
	}
	return nil
}

func (r *rowsOf) take(n int) []byte {
	n = min(n, len(r.data))
	b := r.data[:n]
	r.data = r.data[n:]
	return b
}

func (r *rowsOf) value() driver.Value {
	if len(r.data) == 0 {
		return nil
	}
	kind := r.take(1)[0]
	b := make([]byte, 8)
	copy(b, r.take(8))
	x := binary.LittleEndian.Uint64(b)
	switch kind % 7 {
	case 0:
		return int64(x)
	case 1:
		return math.Float64frombits(x)
	case 2:
		return x%2 == 0
	case 3:
		return string(r.take(int(x % 16)))
	case 4:
		return append([]byte(nil), r.take(int(x%16))...)
	case 5:
		return time.Unix(int64(x%(1<<34)), 0).UTC()
	}
	return nil
}

func init() { gosql.Register("fuzz-rows", fuzzDriver{}) }

// Rows of any values and any columns decode into Order or fail with an
// error, never a panic.
func FuzzQueryRows(f *testing.F) {
	f.Add([]byte{3, 3, 2, 0, 0, 0, 0, 0, 0, 0, 'o', '1', 0, 244, 1, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	db, err := gosql.Open("fuzz-rows", "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	if err := sql.Register("fuzz", db); err != nil {
		f.Fatal(err)
	}
	defer sql.Unregister("fuzz")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRows["fuzz"] = data
		_, err := interp.Run(context.Background(), interp.NewMock(), effect.Perform(sql.QueryOp[Order]{DB: "fuzz", SQL: "SELECT", Retry: &effect.RetryPolicy{MaximumAttempts: 1}}))
		if err != nil && !errors.Is(err, sql.ErrDecode) {
			t.Fatalf("%x: %v", data, err)
		}
	})
}
