package interp

// durableTask is the durable interpreter's part of a Task.
type durableTask struct {
	deferred []func() // started once the current step is committed
}
