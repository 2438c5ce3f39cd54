package task_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// Version 1 of a message, and version 2 as the code later has it: a field
// added, a field renamed (keeping its stored name), a field removed.
type shipV1 struct {
	Order string
	Qty   int
	Note  string
}

type shipV2 struct {
	OrderID string `json:"Order"` // renamed in Go, same name stored
	Qty     int
	Express bool // added
}

func TestSchemaEvolution(t *testing.T) {
	v1 := task.NewRegistry()
	require.NoError(t, task.RegisterMessage[shipV1](v1, "shop.Ship"))
	v2 := task.NewRegistry()
	require.NoError(t, task.RegisterMessage[shipV2](v2, "shop.Ship"))

	old := shipV1{Order: "o1", Qty: 3, Note: "fragile"}
	// CBOR: written by version 1, read by version 2, and back.
	env, err := v1.EncodeMessage(old)
	require.NoError(t, err)
	got, err := v2.DecodeMessage(env)
	require.NoError(t, err)
	require.Equal(t, shipV2{OrderID: "o1", Qty: 3}, got)
	env2, err := v2.EncodeMessage(shipV2{OrderID: "o2", Qty: 1, Express: true})
	require.NoError(t, err)
	back, err := v1.DecodeMessage(env2)
	require.NoError(t, err)
	require.Equal(t, shipV1{Order: "o2", Qty: 1}, back)

	// JSON: the same names, the same rules.
	j, err := v1.MessageJSON(env)
	require.NoError(t, err)
	require.JSONEq(t, `{"Order": "o1", "Qty": 3, "Note": "fragile"}`, string(j))
	var fromJSON shipV2 // JSON written by version 1, read by version 2
	require.NoError(t, json.Unmarshal(j, &fromJSON))
	require.Equal(t, shipV2{OrderID: "o1", Qty: 3}, fromJSON)
	env3, err := v2.EncodeMessage(fromJSON)
	require.NoError(t, err)
	j2, err := v2.MessageJSON(env3)
	require.NoError(t, err)
	require.JSONEq(t, `{"Order": "o1", "Qty": 3, "Express": false}`, string(j2))

	// A changed field type is not compatible.
	type shipV3 struct{ Qty string }
	v3 := task.NewRegistry()
	require.NoError(t, task.RegisterMessage[shipV3](v3, "shop.Ship"))
	_, err = v3.DecodeMessage(env)
	require.ErrorIs(t, err, task.ErrCorrupt)
	var v3JSON shipV3
	require.Error(t, json.Unmarshal(j, &v3JSON))
}

func TestWireCheck(t *testing.T) {
	r := task.NewRegistry()
	type split struct {
		A int `cbor:"a" json:"b"`
	}
	err := task.RegisterMessage[split](r, "")
	require.ErrorIs(t, err, task.ErrWire)
	require.ErrorContains(t, err, `field task_test.split.A is "a" in CBOR and "b" in JSON`)
	type hidden struct {
		A int `cbor:",omitempty" json:"x"` // a cbor tag hides the json name from CBOR
	}
	require.ErrorIs(t, task.RegisterMessage[hidden](r, ""), task.ErrWire)
	type withFunc struct{ F func() }
	require.ErrorContains(t, task.RegisterMessage[withFunc](r, ""), "task_test.withFunc.F is a func")
	type nested struct{ In []map[string]chan int }
	require.ErrorContains(t, task.RegisterMessage[nested](r, ""), "is a chan")
	type fine struct {
		A    int       `json:"a,omitempty"`
		B    int       `cbor:"1,keyasint"` // CBOR only: JSON shows B
		C    time.Time `json:"c" cbor:"c"`
		Skip func()    `json:"-" cbor:"-"`
		Self *fine
	}
	require.NoError(t, task.RegisterMessage[fine](r, ""))
	bad := effect.NewProgram("bad", 1, func(withFunc) effect.Eff[int] { return effect.Pure(1) })
	require.ErrorIs(t, task.Register(r, bad), task.ErrWire)
}

type order struct {
	ID    string    `json:"id"`
	Cents int       `json:"cents"`
	At    time.Time `json:"at"`
}

func TestProgramJSON(t *testing.T) {
	p := effect.NewProgram("total", 1, func(o order) effect.Eff[order] { return effect.Pure(o) })
	in, err := task.InputFromJSON(p, []byte(`{"id": "o1", "cents": 250, "at": "2024-05-01T10:00:00Z"}`))
	require.NoError(t, err)
	require.Equal(t, order{ID: "o1", Cents: 250, At: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}, in)
	zero, err := task.InputFromJSON(p, nil)
	require.NoError(t, err)
	require.Equal(t, order{}, zero)
	_, err = task.InputFromJSON(p, []byte(`{"cents": "many"}`))
	require.ErrorContains(t, err, "task: input of total v1 from JSON")
	_, err = task.InputFromJSON(p, []byte(`{} {}`))
	require.ErrorContains(t, err, "data after the JSON value")
	_, err = task.InputFromJSON(p, []byte(`{"id": "o1", "cnets": 5}`))
	require.ErrorContains(t, err, `unknown field "cnets"`)

	stored, err := task.Marshal(in)
	require.NoError(t, err)
	out, err := task.OutputJSON(p, stored)
	require.NoError(t, err)
	require.JSONEq(t, `{"id": "o1", "cents": 250, "at": "2024-05-01T10:00:00Z"}`, string(out))
}

type limitError struct {
	Limit int `json:"limit"`
}

func (e *limitError) Error() string { return "over the limit" }

func TestErrorJSON(t *testing.T) {
	r := task.NewRegistry()
	require.NoError(t, task.RegisterErrorType[*limitError](r, "shop.LimitError"))
	e := r.EncodeError(errors.Join(errors.New("charging"), &limitError{Limit: 5}))
	j, err := r.ErrorJSON(e)
	require.NoError(t, err)
	require.JSONEq(t, `{"type": "shop.LimitError", "message": "charging\nover the limit", "fields": {"limit": 5}}`, string(j))
	j, err = r.ErrorJSON(r.EncodeError(errors.New("plain")))
	require.NoError(t, err)
	require.JSONEq(t, `{"message": "plain"}`, string(j))
	j, err = r.ErrorJSON(nil)
	require.NoError(t, err)
	require.Equal(t, "null", string(j))
}

func FuzzInputFromJSON(f *testing.F) {
	f.Add([]byte(`{"id": "o1", "cents": 250, "at": "2024-05-01T10:00:00Z"}`))
	f.Add([]byte(`[1, 2]`))
	f.Add([]byte(`{"at": "yesterday"}`))
	p := effect.NewProgram("total", 1, func(o order) effect.Eff[order] { return effect.Pure(o) })
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := task.InputFromJSON(p, data)
		if err != nil {
			return
		}
		stored, err := task.Marshal(in)
		if err != nil {
			t.Fatalf("%s: accepted, but cannot be stored: %v", data, err)
		}
		j, err := task.OutputJSON(p, stored)
		if err != nil || !json.Valid(j) {
			t.Fatalf("%s: stored, but renders as %s, %v", data, j, err)
		}
	})
}
