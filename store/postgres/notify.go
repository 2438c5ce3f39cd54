package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Ready returns a channel that receives when tasks may have become ready,
// in this process or another: writes that make tasks ready NOTIFY the
// schema's channel, and a dedicated connection LISTENs to it. The
// listener starts with the first call to Ready (or WorldCommitted). When
// its connection drops it reconnects with backoff, and meanwhile the
// channel receives every PollInterval; after reconnecting it receives
// once, since notifications may have been missed. Signals are never
// queued beyond one.
func (s *Store) Ready() <-chan struct{} {
	s.startListening()
	return s.ready
}

// startListening starts the listener, once.
func (s *Store) startListening() {
	s.listenOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.stop = cancel
		s.listenDone = make(chan struct{})
		go s.listen(ctx)
	})
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
		s.pollWorld(ctx)
		deadline := time.Now().Add(backoff)
		for ctx.Err() == nil && time.Now().Before(deadline) {
			wait := min(time.Until(deadline), s.opts.PollInterval)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
				s.signal()
				s.pollWorld(ctx)
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
	for _, ch := range []string{s.channel, s.worldChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	connected()
	// Whatever was notified while we were not listening.
	s.signal()
	s.pollWorld(ctx)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == s.worldChannel {
			if s.worldNotification(n.Payload) != nil {
				s.pollWorld(ctx)
			}
			continue
		}
		s.signal()
	}
}

// notifySQL is queued in the transactions that make tasks ready: PostgreSQL
// delivers the notification when (and only if) the transaction commits,
// and folds identical notifications of one transaction into one.
const notifySQL = `SELECT pg_notify($1, '')`
