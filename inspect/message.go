package inspect

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/amberrt/amber/task"
)

// ErrBadMessage is matched by the error of DecodeMessageJSON for JSON that
// does not decode as the message type.
var ErrBadMessage = errors.New("the message does not decode as its type")

// DecodeMessageJSON decodes body, JSON, as a value of the message type
// registered under name in reg, and returns the value (not a pointer). A
// field the type does not have, or data after the value, is an error
// matching ErrBadMessage: a typo must not send a zero value. A type that is
// not registered gives an error matching task.ErrUnregisteredType. The CLI's
// task send and the inspector's send form both decode through it.
func DecodeMessageJSON(reg *task.Registry, name, body string) (any, error) {
	t, ok := reg.MessageType(name)
	if !ok {
		return nil, fmt.Errorf("%w: message type %q is not registered in this binary (build your own amber command with cli.Main and your registry)", task.ErrUnregisteredType, name)
	}
	ptr := reflect.New(t)
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr.Interface()); err != nil {
		return nil, fmt.Errorf("%w: decoding %s as %s: %w", ErrBadMessage, body, name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: decoding %s as %s: data after the value", ErrBadMessage, body, name)
	}
	if err := exactNames(t, json.RawMessage(body), ""); err != nil {
		return nil, fmt.Errorf("%w: decoding %s as %s: %w", ErrBadMessage, body, name, err)
	}
	return ptr.Elem().Interface(), nil
}

// exactNames refuses object keys that match a struct field only without
// regard to case: encoding/json accepts {"by": 1} for a field By, but
// messages are stored with their exact names, so a key spelled otherwise
// is a typo. raw has already decoded as t.
func exactNames(t reflect.Type, raw json.RawMessage, at string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(reflect.TypeFor[json.Unmarshaler]()) || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil // null
		}
		fields := jsonFields(t)
		for k, v := range obj {
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("%sno field %q (field names match exactly)", at, k)
			}
			if err := exactNames(ft, v, at+k+": "); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) != nil {
			return nil
		}
		for i, v := range arr {
			if err := exactNames(t.Elem(), v, fmt.Sprintf("%s[%d]: ", at, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		for k, v := range obj {
			if err := exactNames(t.Elem(), v, at+k+": "); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonFields maps the JSON names of t's fields (promoted ones included)
// to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" || !sf.IsExported() && !sf.Anonymous {
			continue
		}
		ft := sf.Type
		if sf.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if name == "" {
			name = sf.Name
		}
		out[name] = ft
	}
	return out
}

// field is an input of a typed send form.
type field struct {
	Name  string // the JSON name; the form field is "f." + Name
	Label string
	Input string // an <input> type (text, number, checkbox), or "json" for a textarea
	Go    string // the Go type, shown as a hint
}

// formFields lays out a form for a message type: one input per exported
// field of a struct (by its JSON name), or one input named "value".
func formFields(t reflect.Type) []field {
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]() {
		return []field{{Name: "value", Label: "value", Input: inputKind(t), Go: t.String()}}
	}
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() || sf.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, field{Name: name, Label: name, Input: inputKind(sf.Type), Go: sf.Type.String()})
	}
	return out
}

func inputKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "checkbox"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	}
	return "json"
}

// formJSON turns the values of a typed form for t into JSON. An empty
// number or JSON field is left out (the zero value); a value that is not a
// number where one is due is an error matching ErrBadMessage.
func formJSON(t reflect.Type, value func(string) string) (string, error) {
	enc := func(f field, v string) (json.RawMessage, error) {
		switch f.Input {
		case "text":
			return json.Marshal(v)
		case "checkbox":
			return json.Marshal(v != "")
		case "number":
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return nil, fmt.Errorf("%w: %s: %q is not a number", ErrBadMessage, f.Name, v)
			}
			return json.RawMessage(v), nil
		}
		if !json.Valid([]byte(v)) {
			return nil, fmt.Errorf("%w: %s: not JSON: %s", ErrBadMessage, f.Name, v)
		}
		return json.RawMessage(v), nil
	}
	fields := formFields(t)
	if len(fields) == 1 && fields[0].Name == "value" && (t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]()) {
		v := value("f.value")
		if v == "" && fields[0].Input != "text" && fields[0].Input != "checkbox" {
			return "", fmt.Errorf("%w: no value", ErrBadMessage)
		}
		b, err := enc(fields[0], v)
		return string(b), err
	}
	obj := map[string]json.RawMessage{}
	for _, f := range fields {
		v := value("f." + f.Name)
		if v == "" && (f.Input == "number" || f.Input == "json") {
			continue
		}
		b, err := enc(f, v)
		if err != nil {
			return "", err
		}
		obj[f.Name] = b
	}
	b, err := json.Marshal(obj)
	return string(b), err
}
