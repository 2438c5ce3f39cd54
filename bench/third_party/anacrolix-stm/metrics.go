package stm

import (
	"expvar"
)

var expvars = expvar.NewMap("stm")
