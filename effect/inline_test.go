package effect_test

import (
	"os/exec"
	"regexp"
	"testing"
)

// TestCallIsInlined checks that the compiler still inlines Call (and
// callVia, its body) into its callers, and Handler.CallResume (and
// resumeVia and resumeBody) into the interpreter's: that is what makes
// both sides of a direct-style effect's coroutine switch as shallow as a
// bare iter.Pull's (see Call and CallResume). Their costs sit near the
// inliner's budget, so a small change, or a new Go release, can push them
// over without any test failing otherwise. Done and Pending, which the
// interpreter's loop calls too, are checked with them, and Run, which an
// interpreter calls at every activation of a task.
func TestCallIsInlined(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package with -gcflags=-m")
	}
	out, err := exec.Command("go", "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	for _, fn := range []string{"Call", "callVia", "Handler.CallResume", "resumeVia", "resumeBody", "(*Machine).Done", "(*Machine).Pending", "(*Machine).Run"} {
		re := regexp.MustCompile(`(?m)^.*: can inline ` + regexp.QuoteMeta(fn) + `(\[go\.shape\.|$)`)
		if !re.Match(out) {
			t.Errorf("%s is no longer inlinable: go build -gcflags=-m does not list it as 'can inline'", fn)
		}
	}
}
