package report

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// screen is a small terminal for tests: it applies what the console writes
// (text, CR, LF as the tty driver's CRLF, cursor up, erase, colours ignored)
// and shows what a person would see.
type screen struct {
	mu     sync.Mutex
	width  int
	rows   [][]rune
	r, c   int
	wrap   bool // the last column was written: the next character wraps
	escape []byte
}

func newScreen(width int) *screen { return &screen{width: width, rows: [][]rune{nil}} }

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := append(s.escape, p...)
	s.escape = nil
	for len(buf) > 0 {
		if buf[0] == 0x1b {
			n := s.control(buf)
			if n == 0 { // incomplete: wait for the rest
				s.escape = append([]byte(nil), buf...)
				break
			}
			buf = buf[n:]
			continue
		}
		r, n := utf8.DecodeRune(buf)
		if r == utf8.RuneError && n <= 1 && !utf8.FullRune(buf) {
			s.escape = append([]byte(nil), buf...)
			break
		}
		buf = buf[n:]
		switch r {
		case '\r':
			s.c, s.wrap = 0, false
		case '\n':
			s.down()
			s.c, s.wrap = 0, false
		default:
			if s.wrap {
				s.down()
				s.c, s.wrap = 0, false
			}
			row := s.rows[s.r]
			for len(row) <= s.c {
				row = append(row, ' ')
			}
			row[s.c] = r
			s.rows[s.r] = row
			if s.c == s.width-1 {
				s.wrap = true
			} else {
				s.c++
			}
		}
	}
	return len(p), nil
}

func (s *screen) down() {
	s.r++
	for len(s.rows) <= s.r {
		s.rows = append(s.rows, nil)
	}
}

// control applies one escape sequence at the start of b and returns its
// length, 0 when b ends inside it.
func (s *screen) control(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	if b[1] != '[' {
		return 2
	}
	i := 2
	for i < len(b) && (b[i] < 0x40 || b[i] > 0x7e) {
		i++
	}
	if i == len(b) {
		return 0
	}
	n, err := strconv.Atoi(string(b[2:i]))
	if err != nil {
		n = 0
	}
	switch b[i] {
	case 'A':
		s.r = max(s.r-max(n, 1), 0)
		s.wrap = false
	case 'J': // erase from the cursor to the end of the screen
		if s.c < len(s.rows[s.r]) {
			s.rows[s.r] = s.rows[s.r][:s.c]
		}
		s.rows = s.rows[:s.r+1]
	case 'K':
		if s.c < len(s.rows[s.r]) {
			s.rows[s.r] = s.rows[s.r][:s.c]
		}
	}
	return i + 1
}

// lines is the screen's text, trailing blanks and empty last rows dropped.
func (s *screen) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.rows {
		out = append(out, strings.TrimRight(string(r), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

func (s *screen) String() string { return strings.Join(s.lines(), "\n") }
