package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSupervisorExample(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"w1 (task", "2² = 4", "w2 crashes on bad input", "7² = 49", "supervisor ended: supervise: restart intensity exceeded", "no worker is named w1"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}
