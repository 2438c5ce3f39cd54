package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), filepath.Join(t.TempDir(), "amber.db"), 3*time.Second, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// Down for 3 seconds with a tick every second: at least two ticks
	// were missed (more on a slow machine), and one run stood for them.
	m := regexp.MustCompile(`one run caught up (\d+) missed ticks`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no catch-up in the output:\n%s", out.String())
	}
	if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Fatalf("caught up %d ticks, want 2 or more:\n%s", n, out.String())
	}
}
