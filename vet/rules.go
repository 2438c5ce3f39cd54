package vet

import (
	"go/types"
	"slices"
	"strings"
)

// The rules. Each finding names one; //amber:ignore names the rule it
// silences.
const (
	RuleTime     = "time"     // reading the clock, sleeping, timers
	RuleRand     = "rand"     // math/rand, math/rand/v2, crypto/rand
	RuleGo       = "go"       // go statements
	RuleChan     = "chan"     // sends, receives, ranging over a channel
	RuleSelect   = "select"   // select statements
	RuleMapRange = "maprange" // ranging over a map (or its unordered keys)
	RuleGlobal   = "global"   // package-level variables that change
	RuleIO       = "io"       // os, net, io, printing and logging
	RuleUUID     = "uuid"     // UUIDs from a library
)

// Rules lists every rule, in the order of the package doc.
var Rules = []string{RuleTime, RuleRand, RuleGo, RuleChan, RuleSelect, RuleMapRange, RuleGlobal, RuleIO, RuleUUID}

// advice is what to use instead, by rule.
var advice = map[string]string{
	RuleTime:     "use e.Now(), e.Sleep(d) or effect.Now(), effect.Sleep(d), and stdlib/timex for deadlines: a replay answers them from the journal",
	RuleRand:     "use stdlib/rand (rand.IntN(e, n), rand.New(e)), which draws through the Random op",
	RuleGo:       "run concurrent work as fibers with effect.Par or coll.ParMap, or as tasks with effect.Spawn",
	RuleChan:     "tasks talk with effect.Send and effect.Receive; fibers of one task with effect.Par and effect.Race",
	RuleSelect:   "wait for the first of several effects with effect.Race (or effect.ReceiveTimeout)",
	RuleMapRange: "map order changes from run to run: range over coll.Sorted(m), or coll.Keys(m)",
	RuleGlobal:   "a replay does not see the value this run saw: pass it in the input, or keep it in an stm var (effect.ReadState, effect.WriteState)",
	RuleIO:       "do I/O in an activity (an op with a Run method) or with stdlib/http and stdlib/sql; log with e.Log or effect.Log, which a replay does not write again",
	RuleUUID:     "use stdlib/rand (rand.UUIDv4(e), rand.UUIDv7(e)), which draws through the Random op",
}

// forbidden returns the rule that a call to fn breaks, and how to name
// fn, or "" if the call is fine.
func forbidden(fn *types.Func) (rule, name string) {
	pkg := fn.Pkg()
	if pkg == nil {
		return "", ""
	}
	path := pkg.Path()
	sig, _ := fn.Type().(*types.Signature)
	if sig != nil && sig.Recv() != nil {
		return forbiddenMethod(fn, sig)
	}
	name = pkg.Name() + "." + fn.Name()
	switch path {
	case "time":
		if slices.Contains([]string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"}, fn.Name()) {
			return RuleTime, name
		}
	case "math/rand", "math/rand/v2":
		if !strings.HasPrefix(fn.Name(), "New") {
			return RuleRand, name
		}
	case "crypto/rand":
		return RuleRand, name
	case "github.com/google/uuid", "github.com/gofrs/uuid", "github.com/gofrs/uuid/v5":
		if strings.HasPrefix(fn.Name(), "New") {
			return RuleUUID, name
		}
	case "os", "os/exec", "os/signal", "os/user", "syscall", "io/ioutil", "net", "log":
		return RuleIO, name
	case "io":
		if slices.Contains([]string{"ReadAll", "ReadFull", "ReadAtLeast", "Copy", "CopyN", "CopyBuffer", "WriteString"}, fn.Name()) {
			return RuleIO, name
		}
	case "fmt":
		if slices.Contains([]string{"Print", "Println", "Printf"}, fn.Name()) {
			return RuleIO, name
		}
	case "log/slog":
		if slices.Contains([]string{"Debug", "Info", "Warn", "Error", "Log", "LogAttrs", "DebugContext", "InfoContext", "WarnContext", "ErrorContext"}, fn.Name()) {
			return RuleIO, name
		}
	default:
		if strings.HasPrefix(path, "net/") && path != "net/url" && path != "net/netip" && path != "net/mail" && path != "net/textproto" {
			if !pureNetFunc(path, fn.Name()) {
				return RuleIO, name
			}
		}
	}
	return "", ""
}

// pureNetFunc lists the functions of net/... packages that do no I/O and
// that programs build requests with.
func pureNetFunc(path, name string) bool {
	switch path {
	case "net/http":
		return slices.Contains([]string{"NewRequest", "NewRequestWithContext", "StatusText", "CanonicalHeaderKey", "DetectContentType", "ParseHTTPVersion", "ParseTime", "MaxBytesReader"}, name)
	case "net/http/httptest":
		return name == "NewRequest" || name == "NewRecorder"
	}
	return false
}

// forbiddenMethod returns the rule of a method call: methods of the types
// of packages that do I/O, and of the loggers.
func forbiddenMethod(fn *types.Func, sig *types.Signature) (rule, name string) {
	t := sig.Recv().Type()
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	named, ok := t.(*types.Named)
	if !ok || named.Obj().Pkg() == nil {
		return "", ""
	}
	path := named.Obj().Pkg().Path()
	name = named.Obj().Pkg().Name() + "." + named.Obj().Name() + "." + fn.Name()
	switch {
	case path == "os" || path == "os/exec" || path == "net":
		return RuleIO, name
	case strings.HasPrefix(path, "net/"):
		if (named.Obj().Name() == "Client" || named.Obj().Name() == "Transport" || named.Obj().Name() == "Server") && path == "net/http" {
			return RuleIO, name
		}
	case path == "log" || path == "log/slog":
		if named.Obj().Name() == "Logger" && logMethod(fn.Name()) {
			return RuleIO, name
		}
	case path == "time":
		if named.Obj().Name() == "Timer" || named.Obj().Name() == "Ticker" {
			return RuleTime, name
		}
	}
	return "", ""
}

func logMethod(name string) bool {
	for _, p := range []string{"Print", "Fatal", "Panic", "Debug", "Info", "Warn", "Error", "Log"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// isStd reports whether path names a package of the standard library:
// its first element has no dot.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
