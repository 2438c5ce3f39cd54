package router_test

import (
	"testing"

	"github.com/amberrt/amber/router"
)

// FuzzDecodePolicy: a stored policy never panics its decoder, and one
// that decodes validates and encodes back to a policy that decodes the
// same.
func FuzzDecodePolicy(f *testing.F) {
	for _, s := range []string{
		`{"primary":"1"}`,
		`{"primary":"1","percent":{"2":10},"shadow":{"candidate":"2","sampling":0.5},"tasks":{"t1":"debug"}}`,
		`{"primary":"1","percent":{"2":101}}`,
		`{"primary":""}`, `null`, `[]`, `{"shadow":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := router.DecodePolicy(b)
		if err != nil {
			return
		}
		if err := p.Validate(nil); err != nil {
			t.Fatalf("decoded policy does not validate: %v", err)
		}
		again, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		q, err := router.DecodePolicy(again)
		if err != nil {
			t.Fatalf("re-encoded policy does not decode: %v", err)
		}
		if q.Primary != p.Primary || len(q.Percent) != len(p.Percent) || len(q.Tasks) != len(p.Tasks) || (q.Shadow == nil) != (p.Shadow == nil) {
			t.Fatalf("round trip: %+v -> %+v", p, q)
		}
	})
}

// FuzzDecodeDivergence: a stored divergence never panics its decoder.
func FuzzDecodeDivergence(f *testing.F) {
	f.Add([]byte(`{"function":"f","primary":"1","candidate":"2","task":"t","first_diff":0}`))
	f.Add([]byte(`{"function":""}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := router.DecodeDivergence(b)
		if err == nil && d.Function == "" {
			t.Fatal("a divergence without a function decoded")
		}
	})
}
