package report

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Visible is what a terminal leaves of a line holding carriage-return
// progress: the fragment after the last carriage return that is followed by
// text ("(Reading database ... 5%\r...\r(Reading database ... 11818 files
// ...)" shows as its last part).
func Visible(line string) string {
	line = strings.TrimRight(line, "\r")
	if i := strings.LastIndexByte(line, '\r'); i >= 0 {
		return line[i+1:]
	}
	return line
}

// printable keeps a remote line on one row of a live display: escape
// sequences and control characters go, tabs become spaces.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0x1b { // CSI ... final byte, or a two-byte escape
			if i+1 < len(s) && s[i+1] == '[' {
				i += 2
				for i < len(s) && (s[i] < 0x40 || s[i] > 0x7e) {
					i++
				}
			} else {
				i++
			}
			continue
		}
		if c == '\t' {
			b.WriteByte(' ')
			continue
		}
		if c < 0x20 || c == 0x7f {
			continue
		}
		b.WriteByte(c)
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, b.String())
}

// truncate cuts s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n == 1 {
		return "…"
	}
	return string(r[:n-1]) + "…"
}

// marks remembers, per task, the last mark of a long operation reported
// (a mark is 1/per of the way), so a log gets a line per mark however often
// progress arrives: the console every 10%, the log file every 1%.
type marks struct {
	per  int
	last map[string]int
}

func newMarks(per int) marks { return marks{per: per, last: map[string]int{}} }

// step reports whether p reached a new mark (or finished) since the last
// line for its task.
func (m marks) step(p Progress) bool {
	mark := int(p.Fraction * float64(m.per))
	if p.Fraction >= 1 {
		mark = m.per
	}
	if mark <= m.last[p.Task] { // the start (mark 0) is no news
		return false
	}
	m.last[p.Task] = mark
	return true
}

// line is a progress line for logs: "secure erase: 40%, 9600 MiB written".
func (p Progress) line() string {
	if p.Text == "" {
		return fmt.Sprintf("%s: %d%%", p.Task, int(p.Fraction*100))
	}
	return p.Task + ": " + p.Text
}

// bar is a live progress bar, "[#######.............]"; the text beside it
// says what it measures.
func (p Progress) bar(width int) string {
	n := int(min(max(p.Fraction, 0), 1) * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// throttle lets a source's carriage-return progress through at most once per
// every: a short meter (dpkg's) shows nothing before its line ends, a long
// download a line now and then.
type throttle struct {
	every time.Duration
	since map[string]time.Time // when the source's current line began, or its last progress line
}

func (t *throttle) allow(source string, now time.Time) bool {
	if t.since == nil {
		t.since = map[string]time.Time{}
	}
	first, ok := t.since[source]
	if !ok {
		t.since[source] = now
		return false
	}
	if now.Sub(first) < t.every {
		return false
	}
	t.since[source] = now
	return true
}

// end forgets the source's line: the next one starts its own clock.
func (t *throttle) end(source string) { delete(t.since, source) }

// reportedError is an error a sink has already shown the user.
type reportedError struct{ error }

func (e reportedError) Unwrap() error { return e.error }

// Reported marks err as shown by the sinks (a failed step's error with its
// command's last lines, each cleanup error), so the caller does not print
// it again; nil stays nil.
func Reported(err error) error {
	if err == nil {
		return nil
	}
	return reportedError{err}
}

// IsReported says whether err was marked by Reported.
func IsReported(err error) bool {
	_, ok := err.(reportedError)
	return ok
}
