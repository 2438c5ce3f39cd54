package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/amberrt/amber/inspect"
	"github.com/amberrt/amber/store"
	"github.com/spf13/cobra"
)

// serveContext is the context serve runs under until it is done; tests
// replace it to stop a server.
var serveContext = func(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func (e *env) serveCmd() *cobra.Command {
	var addr, token string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the inspector: tasks, journals and timelines in a browser",
		Long: `Serve runs the inspector, a web interface to the store's tasks, until it is
interrupted. It listens on ` + inspect.DefaultAddr + ` unless --addr says otherwise. An
address other than loopback needs a token (--token or AMBER_TOKEN), and
then every request must carry it: open the inspector once with
?token=TOKEN, or send "Authorization: Bearer TOKEN".`,
		Example: `  amber serve --db ./amber.db
  AMBER_TOKEN=s3cret amber serve --addr 0.0.0.0:7700 --postgres postgres://...`,
		Args: cobra.NoArgs,
		RunE: e.action(func(ctx context.Context, _ []string) error {
			if token == "" {
				token = os.Getenv("AMBER_TOKEN")
			}
			if err := inspect.CheckAddr(addr, token); err != nil {
				return usageError{err}
			}
			return e.withStore(ctx, writes, func(st store.Store) error { return e.serve(ctx, st, addr, token) })
		}),
	}
	c.Flags().StringVar(&addr, "addr", inspect.DefaultAddr, "listen on `host:port`")
	c.Flags().StringVar(&token, "token", "", "require this `token` on every request (default $AMBER_TOKEN)")
	return c
}

func (e *env) serve(ctx context.Context, st store.Store, addr, token string) error {
	srv, err := inspect.New(inspect.Options{Store: st, Registry: e.reg, Token: token})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/"
	if e.json {
		fmt.Fprintf(e.stdout, "{\"url\": %q}\n", url)
	} else {
		fmt.Fprintf(e.stdout, "amber inspector on %s (interrupt to stop)\n", url)
	}
	ctx, stop := serveContext(ctx)
	defer stop()
	return srv.Serve(ctx, ln)
}
