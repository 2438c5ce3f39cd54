package cli_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/amberrt/amber/cli"
)

// Main is the whole command line; a binary of your own passes your
// registry instead of nil. Here, a new store is made with --create and
// listed as JSON, and a wrong command line exits with 2.
func ExampleMain() {
	dir, _ := os.MkdirTemp("", "amber-example-")
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "amber.db")

	code := cli.Main([]string{"task", "list", "--db", db, "--create", "--json"}, nil, os.Stdout, os.Stderr)
	fmt.Println("exit", code)
	code = cli.Main([]string{"task", "list", "--status", "asleep", "--db", db}, nil, os.Stdout, os.Stdout)
	fmt.Println("exit", code)
	// Output:
	// []
	// exit 0
	// amber: --status "asleep": not a task status (want one of running, waiting, done, failed, cancelled, parked, diverged)
	// exit 2
}
