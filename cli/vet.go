package cli

import (
	"context"
	"io"

	"github.com/amberrt/amber/vet"
	"github.com/spf13/cobra"
)

// vetMain is the analyzer's entry point: `amber vet ARGS` runs it with the
// arguments as they are (go vet with this executable as its vet tool).
var vetMain func(args []string, stdout, stderr io.Writer) int = vet.Main

// vetExit carries the analyzer's exit code out of cobra.
type vetExit struct{ code int }

func (v vetExit) Error() string { return "vet found problems" }

func (e *env) vetCmd() *cobra.Command {
	if vetMain == nil {
		return nil
	}
	return &cobra.Command{
		Use:                "vet [packages]",
		Short:              "Check programs for nondeterminism and other mistakes replay cannot survive",
		DisableFlagParsing: true,
		RunE: e.action(func(_ context.Context, args []string) error {
			if code := vetMain(args, e.stdout, e.stderr); code != 0 {
				return vetExit{code}
			}
			return nil
		}),
	}
}
