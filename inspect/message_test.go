package inspect

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

type order struct {
	ID    string `json:"id"`
	Qty   int
	Rush  bool
	Tags  []string
	At    time.Time
	Price float64 `json:"price,omitempty"`
	skip  int
	Hide  string `json:"-"`
}

// TestFormJSON: a typed form's fields become the JSON of the message
// type, with numbers, booleans and nested JSON in their places.
func TestFormJSON(t *testing.T) {
	ot := reflect.TypeFor[order]()
	fields := formFields(ot)
	var names []string
	for _, f := range fields {
		names = append(names, f.Name+":"+f.Input)
	}
	want := []string{"id:text", "Qty:number", "Rush:checkbox", "Tags:json", "At:json", "price:number"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("fields %v, want %v", names, want)
	}
	for _, c := range []struct {
		t    reflect.Type
		form map[string]string
		want string
		bad  bool
	}{
		{ot, map[string]string{"f.id": `a"b`, "f.Qty": "3", "f.Rush": "on", "f.Tags": `["x"]`, "f.At": `"2026-01-01T00:00:00Z"`},
			`{"At":"2026-01-01T00:00:00Z","Qty":3,"Rush":true,"Tags":["x"],"id":"a\"b"}`, false},
		{ot, map[string]string{}, `{"Rush":false,"id":""}`, false},
		{ot, map[string]string{"f.Qty": "three"}, "", true},
		{ot, map[string]string{"f.Tags": "[x"}, "", true},
		{ot, map[string]string{"f.Qty": "1e3"}, `{"Qty":1e3,"Rush":false,"id":""}`, false},
		{reflect.TypeFor[string](), map[string]string{"f.value": "hi"}, `"hi"`, false},
		{reflect.TypeFor[int](), map[string]string{"f.value": "-7"}, `-7`, false},
		{reflect.TypeFor[int](), map[string]string{}, "", true},
		{reflect.TypeFor[bool](), map[string]string{}, `false`, false},
		{reflect.TypeFor[time.Time](), map[string]string{"f.value": `"2026-01-01T00:00:00Z"`}, `"2026-01-01T00:00:00Z"`, false},
	} {
		got, err := formJSON(c.t, func(k string) string { return c.form[k] })
		if c.bad {
			if !errors.Is(err, ErrBadMessage) {
				t.Errorf("%v %v: got %s, %v; want ErrBadMessage", c.t, c.form, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%v %v: got %s, %v; want %s", c.t, c.form, got, err, c.want)
		}
	}
}
