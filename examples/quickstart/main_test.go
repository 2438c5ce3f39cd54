package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"live result:   hello, ann (visit #1)",
		"replay result: hello, ann (visit #1)",
		"visits after replay: 1", // the replay did not touch the world
		"effect.SpawnOp",
		"Greeting] {\"Type\": \"main.Greeting\"}",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if n := strings.Count(s, `msg="welcome started"`); n != 1 {
		t.Errorf("the log line was written %d times, want once (replay must not log again)", n)
	}
}
