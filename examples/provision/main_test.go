package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProvision(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, filepath.Join(t.TempDir(), "amber.db"), &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"waits for: [provision.QuotaRaised]",
		"quota exceeded: waiting for a person",
		"quota raised, trying again",
		": 5 machines running",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if n := strings.Count(s, "quota exceeded: waiting"); n != 1 {
		t.Errorf("logged the quota wait %d times, want once (a replay must not log again):\n%s", n, s)
	}
}
