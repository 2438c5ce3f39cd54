package vet_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/vet"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/packages"
)

// buildVet builds cmd/amber-vet, the binary that go vet runs.
func buildVet(t testing.TB) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "amber-vet")
	out, err := exec.Command("go", "build", "-o", exe, "../cmd/amber-vet").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// vetTree runs amber vet on patterns from the module's root, and fails t
// if it does not finish within its deadline.
func vetTree(t *testing.T, exe string, patterns ...string) (code int, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, patterns...)
	cmd.Dir = ".."
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("amber vet %v did not finish in 8 minutes: it hangs\n%s", patterns, b.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"panic:", "internal error", "goroutine "} {
		if strings.Contains(b.String(), bad) {
			t.Fatalf("amber vet %v crashed (%q):\n%s", patterns, bad, b.String())
		}
	}
	return code, b.String()
}

// The examples are clean; the project's own tree (whose tests break the
// rules on purpose) is vetted without a crash or a hang.
func TestVetTree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and vets the whole module")
	}
	exe := buildVet(t)
	t.Run("examples", func(t *testing.T) {
		code, out := vetTree(t, exe, "./examples/...")
		if code != 0 || out != "" {
			t.Fatalf("amber vet ./examples/... = %d:\n%s", code, out)
		}
	})
	t.Run("module", func(t *testing.T) {
		code, out := vetTree(t, exe, "./...")
		if code != 0 && code != 1 {
			t.Fatalf("amber vet ./... = %d:\n%s", code, out)
		}
		t.Logf("amber vet ./... = %d, %d findings", code, strings.Count(out, "breaks replay"))
	})
}

func TestMainUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := vet.Main([]string{"-h"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "usage: amber vet") {
		t.Fatalf("Main(-h) = %d, %q", code, out.String())
	}
	for args, want := range map[string]bool{"-V=full": true, "-flags": true, "a/b/vet.cfg": true, "./...": false, "": false} {
		if got := vet.IsVettool(strings.Fields(args)); got != want {
			t.Errorf("IsVettool(%q) = %v", args, got)
		}
	}
}

// analyzeStd loads patterns of the standard library with their
// dependencies and analyses them all as if they were a module's code.
func analyzeStd(t testing.TB, patterns ...string) (load func() []*packages.Package, analyze func([]*packages.Package) int) {
	load = func() []*packages.Package {
		pkgs, err := packages.Load(&packages.Config{Mode: packages.LoadAllSyntax}, patterns...)
		if err != nil {
			t.Fatal(err)
		}
		return pkgs
	}
	analyze = func(pkgs []*packages.Package) int {
		g, err := checker.Analyze([]*analysis.Analyzer{vet.Analyzer}, pkgs, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for act := range g.All() {
			if act.Err != nil {
				t.Fatalf("%s: %v", act, act.Err)
			}
			n++
		}
		return n
	}
	return load, analyze
}

// The analysis runs over standard library packages, treated as a
// module's code (every function summarised, every fact exported), without
// an error, a panic or a hang.
func TestVetStdlib(t *testing.T) {
	defer vet.AnalyzeStd()()
	load, analyze := analyzeStd(t, "encoding/json", "net/url", "strings")
	if n := analyze(load()); n < 10 {
		t.Fatalf("analysed %d packages", n)
	}
}

// BenchmarkVetStdlib reports the time to vet net/http's package tree (with
// its dependencies, as go vet does for facts), loaded once: as shipped
// (the standard library is skipped: it holds no programs) and with every
// package analysed as if it were a module's code.
func BenchmarkVetStdlib(b *testing.B) {
	load, analyze := analyzeStd(b, "net/http/...")
	pkgs := load()
	b.Run("as-shipped", func(b *testing.B) {
		for range b.N {
			analyze(pkgs)
		}
	})
	b.Run("analyze-all", func(b *testing.B) {
		defer vet.AnalyzeStd()()
		var n int
		for range b.N {
			n = analyze(pkgs)
		}
		b.ReportMetric(float64(n), "packages")
	})
}
