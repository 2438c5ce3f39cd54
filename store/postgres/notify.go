package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Ready returns a channel that receives when tasks may have become ready,
// in this process or another: writes that make tasks ready NOTIFY the
// schema's channel, and a dedicated connection LISTENs to it. The
// listener starts with the first call to Ready. When its connection drops
// it reconnects with backoff, and meanwhile the channel receives every
// PollInterval; after reconnecting it receives once, since notifications
// may have been missed. Signals are never queued beyond one.
func (s *Store) Ready() <-chan struct{} {
	s.listenOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.stop = cancel
		s.listenDone = make(chan struct{})
		go s.listen(ctx)
	})
	return s.ready
}

// signal wakes the Ready channel without blocking.
func (s *Store) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *Store) listen(ctx context.Context) {
	defer close(s.listenDone)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnceConn(ctx, func() { backoff = 50 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		_ = err // the connection dropped or could not be made: poll, then retry
		s.signal()
		deadline := time.Now().Add(backoff)
		for ctx.Err() == nil && time.Now().Before(deadline) {
			wait := min(time.Until(deadline), s.opts.PollInterval)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
				s.signal()
			}
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenOnceConn connects, LISTENs, and forwards notifications until the
// connection fails or ctx is done. connected is called once listening.
func (s *Store) listenOnceConn(ctx context.Context, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	connected()
	s.signal() // whatever was notified while we were not listening
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.signal()
	}
}

// notifySQL is queued in the transactions that make tasks ready: PostgreSQL
// delivers the notification when (and only if) the transaction commits,
// and folds identical notifications of one transaction into one.
const notifySQL = `SELECT pg_notify($1, '')`
