package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestAgent(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), filepath.Join(t.TempDir(), "amber.db"), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	if !regexp.MustCompile(`turns: 2; requests to the API: ([4-9]|\d\d),`).MatchString(s) {
		t.Errorf("the agent did not finish in 2 turns and 4 or more requests:\n%s", s)
	}
	for _, want := range []string{
		"crash: the worker died during the model's second turn, after 3 requests",
		"assistant: weather(Lyon)",
		"tool:     Lyon: 12°C, rain: true",
		"assistant: Take a coat and an umbrella: Lyon: 12°C, rain: true.",
		", answered: 3 (the request cut by the crash", // at least 4 requests: the activity is at least once
		"same conversation: true, requests to the API during the replay: 0",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}
