package effect_test

import (
	"os/exec"
	"regexp"
	"testing"
)

// TestCallIsInlined checks that the compiler still inlines Call (and
// callVia, its body) into its callers: that is what makes a direct-style
// body's coroutine switch as shallow as a bare iter.Pull's (see Call), and
// Call's cost sits at the inliner's budget, so a small change to it, or a
// new Go release, can push it over without any test failing otherwise.
func TestCallIsInlined(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package with -gcflags=-m")
	}
	out, err := exec.Command("go", "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	for _, fn := range []string{"Call", "callVia"} {
		re := regexp.MustCompile(`(?m)^.*: can inline ` + fn + `\[go\.shape\.`)
		if !re.Match(out) {
			t.Errorf("%s is no longer inlinable: go build -gcflags=-m does not list it as 'can inline'", fn)
		}
	}
}
