package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// command is a line of a sh block of the README's "Changing code safely".
type command struct {
	line  string
	build string
	args  []string
	exit  int
}

// readmeCommands returns the commands of the README's section on changing
// code, in order.
func readmeCommands(t *testing.T) []command {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Changing code safely\n")
	if !ok {
		t.Fatal(`README.md has no section "Changing code safely"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var cmds []command
	for _, block := range strings.Split(section, "```sh\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
			c := command{line: line}
			if code, comment, ok := strings.Cut(line, "# exits "); ok {
				if c.exit, err = strconv.Atoi(strings.TrimSpace(comment)); err != nil {
					t.Fatalf("README: %q: %v", line, err)
				}
				line = strings.TrimSpace(code)
			}
			fields := strings.Fields(line)
			if len(fields) > 0 && strings.HasPrefix(fields[0], "RENEW_BUILD=") {
				c.build = strings.TrimPrefix(fields[0], "RENEW_BUILD=")
				fields = fields[1:]
			}
			if len(fields) < 3 || fields[0] != "go" || fields[1] != "run" || fields[2] != "./examples/renew" {
				t.Fatalf("README: %q is not a run of ./examples/renew", line)
			}
			c.args = fields[3:]
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// TestREADME runs the README's walk through changing code safely, command
// by command, and checks what each shows and where the tasks end.
func TestREADME(t *testing.T) {
	cmds := readmeCommands(t) // before leaving the package's directory
	t.Chdir(t.TempDir())
	outs := map[string]string{}
	for _, c := range cmds {
		var out, errOut bytes.Buffer
		code := run(context.Background(), c.args, c.build, &out, &errOut)
		if code != c.exit {
			t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", c.line, code, c.exit, out.String(), errOut.String())
		}
		outs[c.line] += out.String()
	}
	for line, want := range map[string]string{
		"RENEW_BUILD=edited go run ./examples/renew worker --renew-all ann":          "settled: 0 waiting, 3 done, 3 diverged",
		"go run ./examples/renew task list --status diverged":                        "renew-4",
		"go run ./examples/renew task show renew-0":                                  "diverged from its journal at seq 1",
		"go run ./examples/renew worker":                                             "settled: 0 waiting, 6 done, 0 diverged",
		"RENEW_BUILD=3 go run ./examples/renew deploy check renew --to 3":            "6 tasks: 6 fit, 0 diverge",
		"RENEW_BUILD=2 go run ./examples/renew version set-current renew 2":          "new tasks start on v2",
		"go run ./examples/renew version log":                                        "set-current renew v2",
		"RENEW_BUILD=2 go run ./examples/renew deploy migrate renew --from 1 --to 2": "3 moved",
		"go run ./examples/renew task show renew-7":                                  "migrated v1 -> v2",
		"RENEW_BUILD=2 go run ./examples/renew worker --renew-all bob":               "settled: 0 waiting, 12 done, 0 diverged",
	} {
		if !strings.Contains(outs[line], want) {
			t.Errorf("%s shows\n%s\nwant it to show %q", line, outs[line], want)
		}
	}
	if !strings.Contains(outs["RENEW_BUILD=3 go run ./examples/renew deploy check renew --to 3"], "old branch of patches card-check") {
		t.Errorf("the deploy check against v3 does not say which tasks take the old branch of the patch")
	}
	st, err := sqlite.Open("amber.db", &sqlite.Options{Mode: sqlite.ModeReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 12 {
		id := fmt.Sprintf("renew-%d", i)
		rec, _, err := st.Load(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var res string
		if rec.Status != task.Done || task.Unmarshal(rec.Result, &res) != nil {
			t.Fatalf("%s is %s (%s), want done", id, rec.Status, rec.Reason)
		}
		want := "(v1)"
		if i >= 6 && i%2 == 1 {
			want = "(v2)" // migrated
		}
		if !strings.HasSuffix(res, want) {
			t.Errorf("%s: %q, want it finished on %s", id, res, want)
		}
	}
}
