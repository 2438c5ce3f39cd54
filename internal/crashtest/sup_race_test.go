//go:build race

package crashtest

// raceEnabled: the test binary runs with the race detector, so the worker
// binaries it builds are built with it too.
const raceEnabled = true
