package report

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Redacted replaces every secret in the output.
const Redacted = "***"

// MinSecretLen is the shortest value redacted as a secret. A shorter one (a
// one-character token, a 3-letter "password") is no real secret, and
// replacing it everywhere mangles ordinary words and slugs: the pipeline
// warns about it instead.
const MinSecretLen = 6

// TooShort reports whether a secret value is too short to redact.
func TooShort(secret string) bool {
	return len(strings.TrimSpace(secret)) < MinSecretLen
}

// Secrets is one build's set of secret values, shared by every sink and file
// writer so each hides the same things: the token, sensitive variables,
// secret env values, private keys.
type Secrets struct {
	mu      sync.RWMutex
	secrets [][]byte  // longest first, so a longer form wins over its substrings
	first   [256]bool // first bytes of secrets: every other byte passes straight through
}

// NewSecrets returns an empty set.
func NewSecrets() *Secrets { return &Secrets{} }

// Add registers a secret and its encoded forms; each line of a multi-line
// secret (a private key) counts on its own too. Values shorter than
// MinSecretLen are not registered.
func (r *Secrets) Add(secret string) {
	forms := map[string]bool{}
	addForms := func(s string) {
		if TooShort(s) {
			return
		}
		forms[s] = true
		forms[base64.StdEncoding.EncodeToString([]byte(s))] = true
		forms[base64.RawStdEncoding.EncodeToString([]byte(s))] = true
		forms[base64.URLEncoding.EncodeToString([]byte(s))] = true
		forms[base64.RawURLEncoding.EncodeToString([]byte(s))] = true
		forms[url.QueryEscape(s)] = true
		forms[url.PathEscape(s)] = true
	}
	addForms(secret)
	if strings.Contains(secret, "\n") {
		for _, line := range strings.Split(secret, "\n") {
			addForms(strings.TrimRight(line, "\r"))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for f := range forms {
		if !r.has(f) {
			r.secrets = append(r.secrets, []byte(f))
		}
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	for _, s := range r.secrets {
		r.first[s[0]] = true
	}
}

func (r *Secrets) has(s string) bool {
	for _, x := range r.secrets {
		if string(x) == s {
			return true
		}
	}
	return false
}

// Redact returns s with every registered secret replaced.
func (r *Secrets) Redact(s string) string {
	if r == nil {
		return s
	}
	out, _ := r.scan([]byte(s), true)
	return string(out)
}

// Redactor is an io.Writer that replaces every registered secret, and its
// base64 and URL-escaped forms, with ***. A secret split across two writes is
// still caught: the bytes that could start one are held back until the next
// write or Flush. The pipeline wraps all of its output in one.
type Redactor struct {
	*Secrets
	mu      sync.Mutex
	w       io.Writer
	pending []byte
	midLine bool // the output so far does not end a line
}

// NewRedactor writes redacted output to w, with its own set of secrets.
func NewRedactor(w io.Writer) *Redactor { return NewRedactorFor(w, NewSecrets()) }

// NewRedactorFor writes output to w with the secrets of s redacted.
func NewRedactorFor(w io.Writer, s *Secrets) *Redactor { return &Redactor{Secrets: s, w: w} }

// IsTerminal reports whether the wrapped writer is a terminal, so colour
// decisions see through the redactor.
func (r *Redactor) IsTerminal() bool { return isTerminal(r.w) }

// Write redacts p and passes on everything that cannot be the start of a secret.
func (r *Redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, p...)
	out, rest := r.scanMasks(r.pending, false)
	r.pending = append(r.pending[:0], rest...)
	if len(out) > 0 {
		if _, err := r.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what is held back; call it when the output ends.
func (r *Redactor) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	out, _ := r.scanMasks(r.pending, true)
	r.pending = r.pending[:0]
	if len(out) == 0 {
		return nil
	}
	_, err := r.w.Write(out)
	return err
}

// maskCommand starts the runner's mask line, which must carry the literal
// value: the runner consumes the line and hides the value everywhere after.
var maskCommand = []byte("::add-mask::")

// scanMasks is scan, except that a line starting with ::add-mask:: passes
// unchanged. (Remote output never starts a line: it is prefixed [name].)
func (r *Redactor) scanMasks(orig []byte, final bool) (out, rest []byte) {
	buf := orig
	start := !r.midLine
	for {
		j := maskLine(buf, start)
		if j < 0 {
			break
		}
		o, _ := r.scan(buf[:j], true)
		out = append(out, o...)
		n := bytes.IndexByte(buf[j:], '\n')
		if n < 0 {
			if final {
				out = append(out, buf[j:]...)
				buf = nil
			} else {
				buf, start = buf[j:], true // held back until the line ends
			}
			break
		}
		out = append(out, buf[j:j+n+1]...)
		buf, start = buf[j+n+1:], true
	}
	if maskLine(buf, start) != 0 {
		// The last line could still become a mask line: hold it back.
		q := bytes.LastIndexByte(buf, '\n') + 1
		held := []byte(nil)
		if !final && (q > 0 || start) && q < len(buf) && bytes.HasPrefix(maskCommand, buf[q:]) {
			buf, held = buf[:q], buf[q:]
		}
		o, tail := r.scan(buf, final)
		out = append(out, o...)
		buf = append(append([]byte(nil), tail...), held...)
	}
	consumed := len(orig) - len(buf)
	if consumed > 0 {
		r.midLine = orig[consumed-1] != '\n'
	}
	return out, buf
}

// maskLine is the index of the first line of buf that starts with
// ::add-mask::, or -1; start says whether buf begins a line.
func maskLine(buf []byte, start bool) int {
	for i := 0; i < len(buf); {
		if (i > 0 || start) && bytes.HasPrefix(buf[i:], maskCommand) {
			return i
		}
		n := bytes.IndexByte(buf[i:], '\n')
		if n < 0 {
			return -1
		}
		i += n + 1
		if i == len(buf) {
			return -1
		}
	}
	return -1
}

// scan replaces secrets in buf. Unless final, it stops at the first position
// where the rest of buf is a proper prefix of a secret and returns that tail.
func (r *Secrets) scan(buf []byte, final bool) (out, rest []byte) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out = make([]byte, 0, len(buf))
	i := 0
outer:
	for i < len(buf) {
		if !r.first[buf[i]] {
			out = append(out, buf[i])
			i++
			continue
		}
		for _, s := range r.secrets {
			if bytes.HasPrefix(buf[i:], s) {
				out = append(out, Redacted...)
				i += len(s)
				continue outer
			}
		}
		if !final {
			for _, s := range r.secrets {
				if len(buf)-i < len(s) && bytes.HasPrefix(s, buf[i:]) {
					return out, buf[i:]
				}
			}
		}
		out = append(out, buf[i])
		i++
	}
	return out, nil
}

// RedactValue replaces the secrets in every string field of the struct (or
// slice, map, pointer) v points to, nested ones included: for records written
// to files (the manifest, the validation report) and read by people and jq.
func (r *Secrets) RedactValue(v any) {
	if r == nil {
		return
	}
	r.redactValue(reflect.ValueOf(v))
}

func (r *Secrets) redactValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			r.redactValue(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				r.redactValue(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			r.redactValue(v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := v.MapIndex(k)
			if e.Kind() == reflect.String {
				v.SetMapIndex(k, reflect.ValueOf(r.Redact(e.String())).Convert(e.Type()))
			} else {
				r.redactValue(e) // a map's values cannot be set in place: only pointers inside them
			}
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(r.Redact(v.String()))
		}
	}
}

// RedactSink passes everything to its sink with the secrets replaced: log
// lines, step records, annotations, state, outputs and the job summary, so
// every file a sink writes (GITHUB_OUTPUT, the summary, dotenv) is clean.
// Mask alone passes the literal value on: the runner's ::add-mask:: line
// needs it, and it registers the value here.
type RedactSink struct {
	Sink
	Secrets *Secrets
}

// Redacting wraps s, unless it redacts already.
func Redacting(s Sink, secrets *Secrets) *RedactSink {
	if r, ok := s.(*RedactSink); ok {
		return r
	}
	return &RedactSink{Sink: s, Secrets: secrets}
}

// Mask implements Sink: registered here, literal to the sinks behind.
func (r *RedactSink) Mask(secret string) {
	if TooShort(secret) {
		return
	}
	r.Secrets.Add(secret)
	r.Sink.Mask(secret)
}

// StepStart implements Sink.
func (r *RedactSink) StepStart(name string) { r.Sink.StepStart(r.Secrets.Redact(name)) }

// StepEnd implements Sink.
func (r *RedactSink) StepEnd(rec StepRecord) {
	r.Secrets.RedactValue(&rec)
	r.Sink.StepEnd(rec)
}

// Log implements Sink.
func (r *RedactSink) Log(line string) { r.Sink.Log(r.Secrets.Redact(line)) }

// Output implements Sink.
func (r *RedactSink) Output(source, line string) {
	r.Sink.Output(r.Secrets.Redact(source), r.Secrets.Redact(line))
}

// Partial implements Sink.
func (r *RedactSink) Partial(source, fragment string) {
	r.Sink.Partial(r.Secrets.Redact(source), r.Secrets.Redact(fragment))
}

// Progress implements Sink.
func (r *RedactSink) Progress(p Progress) {
	r.Secrets.RedactValue(&p)
	r.Sink.Progress(p)
}

// Close closes the sink behind (the console's live lines, the log file).
func (r *RedactSink) Close() error { return Close(r.Sink) }

// Annotate implements Sink.
func (r *RedactSink) Annotate(a Annotation) {
	r.Secrets.RedactValue(&a)
	r.Sink.Annotate(a)
}

// State implements Sink.
func (r *RedactSink) State(key, value string) { r.Sink.State(key, r.Secrets.Redact(value)) }

// Outputs implements Sink.
func (r *RedactSink) Outputs(o Outputs) error {
	o.SnapshotRegions = append([]string(nil), o.SnapshotRegions...)
	r.Secrets.RedactValue(&o)
	return r.Sink.Outputs(o)
}

// Summary implements Sink.
func (r *RedactSink) Summary(markdown string) error {
	return r.Sink.Summary(r.Secrets.Redact(markdown))
}
