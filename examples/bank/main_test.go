package main

import (
	"context"
	"testing"
)

// TestBank runs the example; run fails if the total is not conserved.
func TestBank(t *testing.T) {
	if err := run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
