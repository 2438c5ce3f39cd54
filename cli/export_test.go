package cli

import "context"

// SetServeContext makes serve run under f's context instead of until a
// signal, and returns a function that restores it.
func SetServeContext(f func(context.Context) (context.Context, context.CancelFunc)) func() {
	old := serveContext
	serveContext = f
	return func() { serveContext = old }
}
