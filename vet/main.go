package vet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/tools/go/analysis/unitchecker"
)

// IsVettool reports whether args (os.Args[1:]) are go vet's invocation of
// a vet tool: -V=full (its version), -flags (its flags as JSON), or a
// trailing .cfg file (a package to analyse). A binary that serves amber
// vet checks it first and then calls ServeVettool.
func IsVettool(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "-V=full", "-V", "-flags":
		return true
	}
	return strings.HasSuffix(args[len(args)-1], ".cfg")
}

// ServeVettool answers go vet's invocation (see IsVettool) and exits.
func ServeVettool() {
	unitchecker.Main(Analyzer)
}

// Main runs `amber vet [go vet flags] [packages]` (default ./...): go vet
// with this executable as its vet tool, in the current directory. It
// returns the exit status: 0 when there is nothing to report, 1 when
// there are findings, 2 when vet could not run.
func Main(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "amber vet: %v\n", err)
		return 2
	}
	if len(args) == 0 {
		args = []string{"./..."}
	}
	cmd := exec.Command("go", append([]string{"vet", "-vettool=" + exe}, args...)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ee.ExitCode() == 1 {
				return 1
			}
			return 2
		}
		fmt.Fprintf(stderr, "amber vet: %v\n", err)
		return 2
	}
	return 0
}

const usage = `usage: amber vet [go vet flags] [packages]

amber vet reports what breaks replay in program bodies: reading the clock,
randomness, goroutines, channels, select, ranging over maps, package-level
variables that change, I/O, and UUIDs from a library. Each finding names
its rule; //amber:ignore RULE REASON on the line (or the line above)
silences it. The packages default to ./...

Rules: time, rand, go, chan, select, maprange, global, io, uuid.
`
