module github.com/anacrolix/stm

go 1.25

require (
	github.com/anacrolix/envpprof v1.0.0
	github.com/benbjohnson/immutable v0.4.1-0.20221220213129-8932b999621d
	github.com/go-quicktest/qt v1.102.0
)

require (
	github.com/google/go-cmp v0.6.0 // indirect
	github.com/kr/pretty v0.3.1 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/rogpeppe/go-internal v1.12.0 // indirect
	golang.org/x/exp v0.0.0-20221026004748-78e5e7837ae6 // indirect
)
