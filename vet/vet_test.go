package vet_test

import (
	"testing"

	"github.com/amberrt/amber/vet"
	"golang.org/x/tools/go/analysis/analysistest"
)

// One positive and one negative case per rule, the transitive cases
// (within a package, across packages, through a named body) and the
// ignore comment: see testdata/src/example.com/prog.
func TestAnalyzer(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), vet.Analyzer, "example.com/prog")
}
