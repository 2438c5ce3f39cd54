package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScenario runs the five steps and checks what each promises.
func TestScenario(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := run(ctx, filepath.Join(t.TempDir(), "amber.db"), &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	// 1 and 2: v1 serves; registering v2 routes nothing to it.
	if !strings.Contains(s, "6 requests, 6 on lookupUser v1") || !strings.Contains(s, "no route: calls run version 1") {
		t.Errorf("steps 1-2: v1 did not serve every request, or v2 was routed to")
	}
	// 3: v1 serves every request; v2 diverges on bob's (the trimmed
	// name), 3 of 9, and on no other; nothing is noise.
	if !strings.Contains(s, "9 requests, 9 on v1") {
		t.Errorf("step 3: the primary did not serve every request")
	}
	if rep.Divergent != 3 || rep.Noise != 0 {
		t.Errorf("step 3: %d divergences (%d noise); want 3 (bob's), 0", rep.Divergent, rep.Noise)
	}
	if !strings.Contains(s, `primary   (v1): {"ID": "bob", "Name": "Bob "}`) || !strings.Contains(s, `candidate (v2): {"ID": "bob", "Name": "Bob"}`) {
		t.Errorf("step 3: route divergences does not render both sides")
	}
	// 4: about 10 % of 200 tasks on v2 (the split of these IDs is fixed:
	// a hash), then all on v2, then all back on v1.
	if rep.Percent < 10 || rep.Percent > 30 {
		t.Errorf("step 4: %d of 200 tasks on v2; want about 20", rep.Percent)
	}
	if rep.Promoted != "2" || rep.Back != "1" {
		t.Errorf("step 4: after --primary 2 the tasks ran %q, after --primary 1 %q", rep.Promoted, rep.Back)
	}
	// 5: the replay reproduces the failure; with the task's route, only
	// lookupUser runs the debug version, answered from the journal.
	if !strings.Contains(rep.Replay, "no such user") {
		t.Errorf("step 5: the replay does not reproduce the failure:\n%s", rep.Replay)
	}
	for _, want := range []string{"lookupUser=debug", "lookupUser ran version debug in a sandbox", "debug: looking up", "debug: database said", "(recorded)"} {
		if !strings.Contains(rep.Debug, want) {
			t.Errorf("step 5: the swapped replay does not say %q:\n%s", want, rep.Debug)
		}
	}
	if rep.Shadows.Dropped != 0 || rep.Shadows.Failed != 0 {
		t.Errorf("shadows: %+v", rep.Shadows)
	}
}
