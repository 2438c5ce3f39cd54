package sqlite

// TxStats returns the transactions the writer of s committed and the task
// steps they wrote.
func TxStats(s *Store) (txs, steps int64) { return s.txs.Load(), s.txSteps.Load() }
