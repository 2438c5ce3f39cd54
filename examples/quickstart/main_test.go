package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// quickstart runs the example afresh and returns what it prints.
func quickstart(t *testing.T) string {
	t.Helper()
	visits.Store(0) // a second run in this process starts from no visits too
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestQuickstart(t *testing.T) {
	s := quickstart(t)
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

// TestREADME: the README shows what `go run ./examples/quickstart`
// prints, exactly: the block that follows that command. (It runs the
// command: in a test binary, the journal would name main's types by the
// package's import path.)
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const cmd = "```sh\ngo run ./examples/quickstart\n```\n"
	_, after, ok := strings.Cut(string(readme), cmd)
	if !ok {
		t.Fatalf("README.md has no block %q", cmd)
	}
	_, block, ok := strings.Cut(after, "\n```\n")
	if !ok {
		t.Fatal("README.md shows no output after the quickstart's command")
	}
	block, _, ok = strings.Cut(block, "```\n")
	if !ok {
		t.Fatal("README.md: the quickstart's output block is not closed")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to run the quickstart with: %v", err)
	}
	run := exec.Command(goCmd, "run", ".")
	var stderr bytes.Buffer
	run.Stderr = &stderr
	got, err := run.Output()
	if err != nil {
		t.Fatalf("go run ./examples/quickstart: %v\n%s", err, stderr.String())
	}
	if block != string(got) {
		t.Errorf("README.md shows the quickstart printing\n%s\nit prints\n%s", block, got)
	}
}
