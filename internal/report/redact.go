package report

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Redacted replaces every secret in the output.
const Redacted = "***"

// Redactor is an io.Writer that replaces every registered secret, and its
// base64 and URL-escaped forms, with ***. A secret split across two writes is
// still caught: the bytes that could start one are held back until the next
// write or Flush. The pipeline wraps all of its output in one.
type Redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte  // longest first, so a longer form wins over its substrings
	first   [256]bool // first bytes of secrets: every other byte passes straight through
	pending []byte
}

// NewRedactor writes redacted output to w.
func NewRedactor(w io.Writer) *Redactor { return &Redactor{w: w} }

// Add registers a secret and its encoded forms; each line of a multi-line
// secret (a private key) counts on its own too.
func (r *Redactor) Add(secret string) {
	forms := map[string]bool{}
	addForms := func(s string) {
		if strings.TrimSpace(s) == "" {
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

func (r *Redactor) has(s string) bool {
	for _, x := range r.secrets {
		if string(x) == s {
			return true
		}
	}
	return false
}

// IsTerminal reports whether the wrapped writer is a terminal, so colour
// decisions see through the redactor.
func (r *Redactor) IsTerminal() bool { return isTerminal(r.w) }

// Write redacts p and passes on everything that cannot be the start of a secret.
func (r *Redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, p...)
	out, rest := r.scan(r.pending, false)
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
	out, _ := r.scan(r.pending, true)
	r.pending = r.pending[:0]
	if len(out) == 0 {
		return nil
	}
	_, err := r.w.Write(out)
	return err
}

// Redact returns s with every registered secret replaced.
func (r *Redactor) Redact(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out, _ := r.scan([]byte(s), true)
	return string(out)
}

// scan replaces secrets in buf. Unless final, it stops at the first position
// where the rest of buf is a proper prefix of a secret and returns that tail.
func (r *Redactor) scan(buf []byte, final bool) (out, rest []byte) {
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
