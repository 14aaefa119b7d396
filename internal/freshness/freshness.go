// Package freshness decides whether a listed image should be rebuilt: pending
// security updates on a droplet booted from it, failing verify/ scripts, or an
// upstream release newer than the image's application_version.
package freshness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Script is the recipe's upstream-version probe, run on the runner.
const Script = "freshness/latest-version"

// scriptTimeout bounds the probe: it asks an upstream API, nothing more.
const scriptTimeout = 2 * time.Minute

// HasLatestVersion reports whether dir has an executable freshness/latest-version;
// a file there that is not executable is an error, not a silent skip.
func HasLatestVersion(dir string) (bool, error) {
	if dir == "" {
		return false, nil
	}
	p := filepath.Join(dir, Script)
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", p, err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return false, fmt.Errorf("%s is not an executable file: chmod +x it (it prints the latest upstream version on stdout)", p)
	}
	return true, nil
}

// LatestVersion runs dir's freshness/latest-version with stdin closed and
// returns the last non-empty line it printed. A failure, a timeout or no
// output is an error that quotes what the script said.
func LatestVersion(ctx context.Context, dir string, env []string) (string, error) {
	p, err := filepath.Abs(filepath.Join(dir, Script))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p)
	cmd.Dir = dir
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second // a child holding stdout open must not hang us
	err = cmd.Run()
	said := strings.TrimSpace(errb.String())
	if len(said) > 500 {
		said = said[len(said)-500:]
	}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return "", fmt.Errorf("%s did not finish within %s", Script, scriptTimeout)
	case err != nil:
		return "", fmt.Errorf("%s failed (%v): %s", Script, err, orNothing(said))
	}
	var last string
	for _, l := range strings.Split(out.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			last = l
		}
	}
	if last == "" {
		return "", fmt.Errorf("%s printed no version on stdout (stderr: %s)", Script, orNothing(said))
	}
	return last, nil
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// Newer reports whether version a is newer than b, comparing as dpkg does
// (1.10 > 1.9, 1.0~rc1 < 1.0) after dropping a leading "v".
func Newer(a, b string) bool {
	return compare(strings.TrimPrefix(a, "v"), strings.TrimPrefix(b, "v")) > 0
}

// compare is dpkg's version ordering of two upstream version strings:
// alternating non-digit parts (letters before non-letters, ~ before all)
// and numeric parts.
func compare(a, b string) int {
	for a != "" || b != "" {
		var an, bn string
		an, a = span(a, false)
		bn, b = span(b, false)
		if c := compareLex(an, bn); c != 0 {
			return c
		}
		an, a = span(a, true)
		bn, b = span(b, true)
		if c := compareNum(an, bn); c != 0 {
			return c
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// span cuts the leading run of digits (or of non-digits) off s.
func span(s string, digits bool) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:]
}

func order(c byte) int {
	switch {
	case c == '~':
		return -1
	case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		return int(c)
	default:
		return int(c) + 256
	}
}

func compareLex(a, b string) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var ca, cb int
		if i < len(a) {
			ca = order(a[i])
		}
		if i < len(b) {
			cb = order(b[i])
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	return 0
}

func compareNum(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
