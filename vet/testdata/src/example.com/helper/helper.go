// Package helper is called by programs of another package of the module.
package helper

import "time"

// Counter is written by Bump: reading it in a program is not replayable.
var Counter int

// Limit is never written after its declaration.
var Limit = 10

func Bump() { Counter++ }

func Stamp() int64 { // want Stamp:"reaches time:time.Now"
	return later()
}

func later() int64 { // want later:"reaches time:time.Now"
	return time.Now().Unix()
}

func Double(x int) int { return 2 * x }

func Measured() int {
	_ = time.Now() //amber:ignore time measured for a log line only
	return 1
}
