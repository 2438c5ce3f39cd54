package cli

import (
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// safeWriter escapes control characters other than newline and tab: a
// task ID, an input or an error message is data from anyone, and a
// terminal must not take it for commands (an escape sequence that
// rewrites the screen or the window title).
type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(p []byte) (int, error) {
	clean := true
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s.w.Write(p)
	}
	out := make([]byte, 0, len(p)+16)
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			out = fmt.Appendf(out, "\\u%04x", r)
		} else {
			out = append(out, p[i:i+n]...)
		}
		i += n
	}
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
