package vet

// AnalyzeStd makes the analyzer look at the standard library's packages
// as if they were a module's, for tests that it neither hangs nor panics
// on them; it returns a function that undoes it.
func AnalyzeStd() (undo func()) {
	skipStd = false
	return func() { skipStd = true }
}
