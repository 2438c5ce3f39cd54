package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// meter shows the progress of long work on stderr: a progress bar on a
// terminal, and plain lines otherwise (a log, a CI run), one each time
// another tenth of the work is done, so that output stays short and
// greppable.
type meter struct {
	bar         *progressbar.ProgressBar // on a terminal
	w           io.Writer                // otherwise
	verb, noun  string
	done, total int
	shown       int // tenths printed
}

// progress starts a meter for total units of work.
func (e *env) progress(total int, verb, noun string) *meter {
	m := &meter{w: e.stderr, verb: verb, noun: noun, total: total}
	if f, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && total > 1 {
		m.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(f),
			progressbar.OptionSetDescription(verb),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString(noun),
			progressbar.OptionShowIts(),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100_000_000)) // 0.1 s
	}
	return m
}

// add records n more units done.
func (m *meter) add(n int) {
	m.done += n
	if m.bar != nil {
		_ = m.bar.Add(n)
		return
	}
	if m.total <= 1 {
		return
	}
	if tenth := m.done * 10 / m.total; tenth > m.shown {
		m.shown = tenth
		fmt.Fprintf(m.w, "%s %d/%d %s\n", m.verb, m.done, m.total, m.noun)
	}
}

// finish ends the meter (a bar is cleared from the terminal).
func (m *meter) finish() {
	if m.bar != nil {
		_ = m.bar.Finish()
	}
}
