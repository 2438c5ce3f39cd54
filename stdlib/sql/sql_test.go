package sql_test

import (
	"context"
	gosql "database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/lives"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stdlib/sql"
	"github.com/stretchr/testify/require"
	"modernc.org/sqlite"
)

// statements counts the statements the database prepared: every query and
// exec through database/sql, since the counting connection offers no
// shortcut around Prepare.
var statements atomic.Int64

type countingDriver struct{ driver.Driver }

func (d countingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return countingConn{c}, nil
}

type countingConn struct{ driver.Conn }

func (c countingConn) Prepare(query string) (driver.Stmt, error) {
	statements.Add(1)
	return c.Conn.Prepare(query)
}

func init() { gosql.Register("counting-sqlite", countingDriver{&sqlite.Driver{}}) }

// openShop opens a fresh database with a table of orders, registered as
// name.
func openShop(t testing.TB, name string) *gosql.DB {
	db, err := gosql.Open("counting-sqlite", filepath.Join(t.TempDir(), "shop.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE orders (id TEXT PRIMARY KEY, cents INTEGER NOT NULL, placed TIMESTAMP, note TEXT);
		INSERT INTO orders VALUES ('o1', 500, '2024-05-01 10:00:00', NULL), ('o2', 1200, '2024-05-02 11:30:00', 'gift'), ('o3', 90, '2024-05-03 09:15:00', NULL);
		CREATE TABLE charges (key TEXT PRIMARY KEY, cents INTEGER)`)
	require.NoError(t, err)
	require.NoError(t, sql.Register(name, db))
	t.Cleanup(func() { sql.Unregister(name) })
	return db
}

// Order is a row of orders.
type Order struct {
	ID     string
	Cents  int64
	Placed time.Time
	Note   gosql.NullString
}

// Report is what the program of TestLives computes.
type Report struct {
	Big   []Order
	Count int
	Top   string
	Noted int64
}

var report = effect.NewProgram("sql.report", 1, func(min int) effect.Eff[Report] {
	return effect.Do(func(e *effect.Ctx) Report {
		var r Report
		r.Big = sql.Query[Order](e, "shop", "SELECT id, cents, placed, note FROM orders WHERE cents > ? ORDER BY id", min)
		r.Count, _ = sql.QueryRow[int](e, "shop", "SELECT count(*) FROM orders")
		r.Top, _ = sql.QueryRow[string](e, "shop", "SELECT id FROM orders ORDER BY cents DESC")
		r.Noted = sql.Exec(e, "shop", "UPDATE orders SET note = 'gift' WHERE cents > ?", 1000).RowsAffected
		return r
	})
})

func TestLives(t *testing.T) {
	openShop(t, "shop")
	outs := lives.Check(t, lives.Case[int, Report]{
		Program: report, Input: 100,
		Performed: func() int { return int(statements.Load()) },
	})
	for _, o := range outs {
		require.NoError(t, o.Err, o.Life)
		r := o.Result
		require.Len(t, r.Big, 2, o.Life)
		require.Equal(t, Order{ID: "o1", Cents: 500, Placed: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}, r.Big[0], o.Life)
		require.Equal(t, gosql.NullString{String: "gift", Valid: true}, r.Big[1].Note, o.Life)
		require.Equal(t, 3, r.Count, o.Life)
		require.Equal(t, "o2", r.Top, o.Life)
		require.Equal(t, int64(1), r.Noted, o.Life)
	}
}

// The op's idempotency key replaces sql.IdempotencyKey: a task run twice
// (here: the same task ID, so the same keys) charges once.
func TestIdempotencyKey(t *testing.T) {
	db := openShop(t, "keys")
	charge := effect.NewProgram("charge", 1, func(cents int) effect.Eff[int64] {
		return effect.Do(func(e *effect.Ctx) int64 {
			return sql.Exec(e, "keys", "INSERT INTO charges VALUES (?, ?) ON CONFLICT DO NOTHING", sql.IdempotencyKey, cents).RowsAffected
		})
	})
	var affected []int64
	for range 2 {
		tk, err := interp.StartProgram(interp.NewMock(), charge, 500, interp.WithID("charge-1"))
		require.NoError(t, err)
		v, err := tk.Wait(context.Background())
		require.NoError(t, err)
		affected = append(affected, v)
	}
	require.Equal(t, []int64{1, 0}, affected)
	var key string
	require.NoError(t, db.QueryRow("SELECT key FROM charges").Scan(&key))
	require.Contains(t, key, "charge-1")
}

// Bad input fails the op with an error naming the task, the query, the
// row and the column; without retries; the task's other work continues.
func TestBadRows(t *testing.T) {
	openShop(t, "shop-bad")
	type Wrong struct{ ID int }  // ids are text
	type Few struct{ ID string } // no field for cents
	cases := []struct {
		name string
		p    effect.Eff[string]
		msg  string
	}{
		{"value that does not fit", show(sql.QueryOp[Wrong]{DB: "shop-bad", SQL: "SELECT id FROM orders ORDER BY id"}),
			`sql: task bad-1: query on shop-bad: SELECT id FROM orders ORDER BY id: row 1, column "id": cannot put it in sql_test.Wrong: sql: Scan error on column index 0, name "id": converting driver.Value type string ("o1") to a int`},
		{"column without a field", show(sql.QueryOp[Few]{DB: "shop-bad", SQL: "SELECT id, cents FROM orders"}),
			`sql: task bad-1: query on shop-bad: SELECT id, cents FROM orders: row 1, column "cents": cannot put it in sql_test.Few: no field of the struct takes this column`},
		{"two columns for a scalar", show(sql.QueryOp[int]{DB: "shop-bad", SQL: "SELECT cents, id FROM orders"}),
			`row 1, column "cents, id": cannot put it in int: 2 columns for a int, which takes one`},
		{"too many rows", show(sql.QueryOp[Order]{DB: "shop-bad", SQL: "SELECT * FROM orders", MaxRows: 2}),
			`sql: task bad-1: query on shop-bad: SELECT * FROM orders: more than 2 rows`},
		{"unknown database", show(sql.QueryOp[Order]{DB: "nowhere", SQL: "SELECT 1"}),
			`sql: task bad-1: query on nowhere: SELECT 1: sql: no database registered under this name: "nowhere"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := statements.Load()
			tk, err := interp.StartProgram(interp.NewMock(), effect.NewProgram("bad", 1, func(effect.Unit) effect.Eff[string] {
				return effect.Do(func(e *effect.Ctx) string {
					_, err := effect.Try(e, c.p)
					n, _ := sql.QueryRow[int](e, "shop-bad", "SELECT count(*) FROM orders")
					return fmt.Sprintf("%v|%d", err, n)
				})
			}), effect.Unit{}, interp.WithID("bad-1"))
			require.NoError(t, err)
			v, err := tk.Wait(context.Background())
			require.NoError(t, err)
			require.Contains(t, v, c.msg)
			require.Contains(t, v, "|3")
			require.LessOrEqual(t, statements.Load()-before, int64(2), "no retries")
		})
	}
}

func show[T any](op sql.QueryOp[T]) effect.Eff[string] {
	return effect.Map(effect.Perform(op), func(rows []T) string { return fmt.Sprint(rows) })
}

// A handler for the op type stands in for the database in a unit test.
func TestHandler(t *testing.T) {
	h := effect.Handle(func(_ context.Context, q sql.QueryOp[Order]) ([]Order, error) {
		return []Order{{ID: "fake", Cents: 1}}, nil
	})
	got, err := interp.Run(context.Background(), interp.NewMock(interp.WithHandlers(h)), effect.Do(func(e *effect.Ctx) string {
		return sql.Query[Order](e, "anything", "SELECT")[0].ID
	}))
	require.NoError(t, err)
	require.Equal(t, "fake", got)
}

func TestRegister(t *testing.T) {
	db := openShop(t, "twice")
	require.ErrorIs(t, sql.Register("twice", db), sql.ErrDuplicate)
	require.Error(t, sql.Register("", db))
}

// Tagged fields name their columns.
func TestTags(t *testing.T) {
	openShop(t, "tags")
	type Row struct {
		Key    string `sql:"id"`
		Amount int    `json:"cents"`
		Skip   string `sql:"-"`
	}
	got, err := interp.Run(context.Background(), interp.NewMock(), effect.Do(func(e *effect.Ctx) []Row {
		return sql.Query[Row](e, "tags", "SELECT id, cents FROM orders WHERE id = ?", "o3")
	}))
	require.NoError(t, err)
	require.Equal(t, []Row{{Key: "o3", Amount: 90}}, got)
}

func Example() {
	db, _ := gosql.Open("sqlite", ":memory:")
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database
	_, _ = db.Exec(`CREATE TABLE items (name TEXT, cents INTEGER); INSERT INTO items VALUES ('pear', 120), ('fig', 300)`)
	_ = sql.Register("example", db)
	defer sql.Unregister("example")

	type Item struct {
		Name  string
		Cents int
	}
	p := effect.Do(func(e *effect.Ctx) string {
		items := sql.Query[Item](e, "example", "SELECT name, cents FROM items ORDER BY cents")
		sql.Exec(e, "example", "DELETE FROM items WHERE cents > ?", 200)
		return fmt.Sprint(items)
	})
	prog := effect.NewProgram("example", 1, func(effect.Unit) effect.Eff[string] { return p })
	tk, _ := interp.StartProgram(interp.NewMock(), prog, effect.Unit{})
	got, _ := tk.Wait(context.Background())
	// The replay returns the rows from the journal: the fig is gone from
	// the table, not from the recording.
	j, _ := tk.Journal()
	r, _ := interp.Replay(context.Background(), prog, effect.Unit{}, j)
	fmt.Println(got)
	fmt.Println(r.Result)
	// Output:
	// [{pear 120} {fig 300}]
	// [{pear 120} {fig 300}]
}
