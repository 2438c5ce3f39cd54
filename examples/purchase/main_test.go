package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPurchase(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, filepath.Join(t.TempDir(), "amber.db"), 400*time.Millisecond, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "-a: shipped parcel-order-") {
		t.Errorf("the kept order did not ship:\n%s", s)
	}
	if !strings.Contains(s, "-b: cancelled, refunded charge-") {
		t.Errorf("the changed order was not cancelled and refunded:\n%s", s)
	}
	if n := strings.Count(s, `msg="order accepted"`); n != 2 {
		t.Errorf("%d acceptance log lines, want 2:\n%s", n, s)
	}
}
