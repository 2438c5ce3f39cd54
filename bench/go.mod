module github.com/amberrt/amber/bench

go 1.26

require (
	github.com/amberrt/amber v0.0.0
	github.com/anacrolix/stm v0.6.0
)

require (
	github.com/fxamacker/cbor/v2 v2.9.6 // indirect
	github.com/x448/float16 v0.8.4 // indirect
)

// The main module, from this repository.
replace github.com/amberrt/amber => ../

// anacrolix/stm v0.6.0 exactly (tag v0.6.0, commit 72c75dcd164d), vendored
// because the module proxy answers 403 for that version. Only the package's
// non-test sources (and its LICENSE) are kept, unmodified.
replace github.com/anacrolix/stm v0.6.0 => ./third_party/anacrolix-stm
