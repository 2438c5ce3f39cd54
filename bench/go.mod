module github.com/amberrt/amber/bench

go 1.26

require (
	github.com/amberrt/amber v0.0.0
	github.com/anacrolix/stm v0.5.0
)

require (
	github.com/alecthomas/atomic v0.1.0-alpha2 // indirect
	github.com/fxamacker/cbor/v2 v2.9.6 // indirect
	github.com/x448/float16 v0.8.4 // indirect
)

// The main module, from this repository.
replace github.com/amberrt/amber => ../
