package report

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// LogFile is the whole transcript of a build: every line the tool and the
// remote commands printed, each with its time, redacted like the console.
// Carriage returns inside a remote line are kept, written as the two
// characters \r, so each remote line stays one line of the file.
type LogFile struct {
	Nop
	mu      sync.Mutex
	f       *os.File
	buf     *bufio.Writer
	red     *Redactor
	path    string
	now     func() time.Time
	percent marks
	err     error // the first write error, returned by Close
}

// OpenLogFile creates the transcript at path, or when path is "" a new file
// named by the time in the temporary directory. It is 0600: remote output
// may hold what the redaction does not know is secret.
// secrets, when not nil, is the build's shared set (Mask adds to it).
func OpenLogFile(path string, now func() time.Time, secrets *Secrets) (*LogFile, error) {
	if now == nil {
		now = time.Now
	}
	if path == "" {
		path = filepath.Join(os.TempDir(), fmt.Sprintf("mp-image-%s-%d.log", now().UTC().Format("20060102-150405"), os.Getpid()))
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("log file: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log file: %w (choose another with --log-file)", err)
	}
	l := &LogFile{f: f, path: path, now: now, percent: newMarks(100)}
	l.buf = bufio.NewWriterSize(f, 64*1024)
	if secrets == nil {
		secrets = NewSecrets()
	}
	l.red = NewRedactorFor(l.buf, secrets)
	return l, nil
}

// Path is where the transcript is.
func (l *LogFile) Path() string { return l.path }

// Close writes what is buffered and closes the file.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return l.err
	}
	l.keep(l.red.Flush())
	l.keep(l.buf.Flush())
	l.keep(l.f.Close())
	l.f = nil
	if l.err != nil {
		return fmt.Errorf("log file %s: %w", l.path, l.err)
	}
	return nil
}

func (l *LogFile) keep(err error) {
	if l.err == nil {
		l.err = err
	}
}

// write puts each line of text after the time; the buffer is flushed per
// event so a killed build leaves its transcript up to the kill.
func (l *LogFile) write(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	ts := l.now().UTC().Format("2006-01-02T15:04:05.000Z ")
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(ts)
		b.WriteString(line)
		b.WriteByte('\n')
	}
	_, err := l.red.Write([]byte(b.String()))
	l.keep(err)
	l.keep(l.buf.Flush())
}

// Mask registers a secret: the file never holds it.
func (l *LogFile) Mask(secret string) { l.red.Add(secret) }

// StepStart implements Sink.
func (l *LogFile) StepStart(name string) { l.write("==> " + name) }

// StepEnd implements Sink.
func (l *LogFile) StepEnd(r StepRecord) {
	s := fmt.Sprintf("%s %s (%s)", r.Status, r.Name, FormatDuration(r.Duration))
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	l.write(s)
}

// Log implements Sink.
func (l *LogFile) Log(line string) { l.write(line) }

// Output keeps every byte of the remote line (carriage returns as \r).
func (l *LogFile) Output(source, line string) {
	l.write("[" + source + "] " + strings.ReplaceAll(line, "\r", `\r`))
}

// Progress writes a line every 1%.
func (l *LogFile) Progress(p Progress) {
	l.mu.Lock()
	step := l.percent.step(p)
	l.mu.Unlock()
	if step {
		l.write(p.line())
	}
}

// Annotate implements Sink.
func (l *LogFile) Annotate(a Annotation) {
	where := a.File
	if where != "" && a.Line > 0 {
		where = fmt.Sprintf("%s:%d", a.File, a.Line)
	}
	level := a.Level
	if level == "" {
		level = "error"
	}
	s := level
	for _, p := range []string{where, a.Title} {
		if p != "" {
			s += ": " + p
		}
	}
	l.write(s + ": " + a.Message)
}

// Outputs implements Sink.
func (l *LogFile) Outputs(o Outputs) error {
	var b strings.Builder
	for _, kv := range o.pairs() {
		if kv[1] != "" {
			fmt.Fprintf(&b, "output %s=%s\n", kv[0], kv[1])
		}
	}
	if b.Len() > 0 {
		l.write(b.String())
	}
	return nil
}
