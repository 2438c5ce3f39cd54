// Command amber inspects and drives durable amber tasks from the shell,
// and serves the inspector:
//
//	amber task list | show ID | replay ID... | send ID JSON | cancel ID
//	amber serve [--addr 127.0.0.1:7700] [--token T]
//
// Every command takes --help, --json, and --db FILE or --postgres URL; the
// exit codes are in `amber --help` and the documentation of package cli.
// This build registers no programs or message types, so replay and send
// work only for built-in message types; build your own command with
// cli.Main and your registry for those.
package main

import (
	"os"

	"github.com/amberrt/amber/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], nil, os.Stdout, os.Stderr))
}
