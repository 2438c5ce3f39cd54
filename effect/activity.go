package effect

import "context"

// ActivityInfo is what an activity or a handler can learn, from its
// context, about the op it performs. Interpreters attach it (WithActivity);
// activities read it with ActivityOf, IdempotencyKey, Attempt and TaskID,
// so that an activity (or a library of them) never imports an
// interpreter.
type ActivityInfo struct {
	// Task is the ID of the task on whose behalf the op runs.
	Task string
	// Key names the op across retries and resumptions: the same for every
	// attempt and every replay of the task, different for every other op
	// (also across ContinueAsNew runs of the same task).
	Key string
	// Attempt is the number of the current attempt, from 1.
	Attempt int
}

type activityKey struct{}

// WithActivity returns ctx carrying info. Interpreters call it before
// they run an activity or a handler; programs do not need it.
func WithActivity(ctx context.Context, info ActivityInfo) context.Context {
	return context.WithValue(ctx, activityKey{}, info)
}

// ActivityOf returns the ActivityInfo that ctx carries, and whether it
// carries one (it does inside an activity or a handler run by an
// interpreter).
func ActivityOf(ctx context.Context) (ActivityInfo, bool) {
	info, ok := ctx.Value(activityKey{}).(ActivityInfo)
	return info, ok
}

// IdempotencyKey returns, inside an activity or handler, a key that names
// the op being performed: the same for every attempt and every resumption
// of the task, different for every other op. An activity that changes the
// outside world can pass it on (as an Idempotency-Key header, a unique
// column) so that a retried attempt is recognised. It is "" outside an
// activity.
func IdempotencyKey(ctx context.Context) string {
	info, _ := ActivityOf(ctx)
	return info.Key
}

// Attempt returns, inside an activity or handler, the number of the
// current attempt, from 1 (0 outside an activity).
func Attempt(ctx context.Context) int {
	info, _ := ActivityOf(ctx)
	return info.Attempt
}

// TaskID returns, inside an activity or handler, the ID of the task on
// whose behalf it runs.
func TaskID(ctx context.Context) (string, bool) {
	info, ok := ActivityOf(ctx)
	return info.Task, ok && info.Task != ""
}
