package imagecheck

import (
	"bytes"
	"context"
	"crypto/dsa" //nolint:staticcheck // old user keys still parse as DSA
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/shell"
)

//go:embed secrets.sh
var secretsScript string

// SecretsID is the id of the secret scan's result.
const SecretsID = "build-secrets"

// MinSecretLen is the shortest value the scan searches for: a shorter one would match
// everywhere, and is no real secret (the build warns about it elsewhere).
const MinSecretLen = 8

// minPattern is the shortest piece of an encoded secret searched for on its own.
const minPattern = 12

// Secret is a value the build must not leave in the image. Name says what it is ("the API
// token"); the value never appears in any output.
type Secret struct {
	Name  string
	Value string
}

// InputRunner runs a command with data on its standard input and returns its standard
// output: the scan sends its patterns that way, never on a command line.
type InputRunner interface {
	Input(ctx context.Context, cmd string, stdin io.Reader) (stdout []byte, err error)
}

// ScanOptions say what to search for.
type ScanOptions struct {
	Secrets []Secret
	// Mode is build_image (default) or build_base: in build_base, hits only in files the
	// cleanup removes (host keys, cloud-init's copy of user_data) are cleanup-fixable.
	Mode string

	root string // tests: search this tree instead of the machine's disk
	tmp  string // tests: the memory file system directory for the patterns
}

// SecretScan is what the scan found.
type SecretScan struct {
	Result Result   // build-secrets: FAIL naming each file and which secret, never a value
	Files  []string // the files holding a secret
}

// ScanSecrets searches every writable disk-backed file system of the machine (what a
// snapshot holds) for the build's own secrets. It returns nil when there is nothing to
// search for.
func ScanSecrets(ctx context.Context, r InputRunner, o ScanOptions) (*SecretScan, error) {
	groups, names, short := scanGroups(o.Secrets)
	if len(groups) == 0 {
		return nil, nil
	}
	var in bytes.Buffer
	for i, pats := range groups {
		for _, p := range pats {
			fmt.Fprintf(&in, "%d\t%s\n", i, base64.StdEncoding.EncodeToString([]byte(p)))
		}
	}
	cmd := "sh -c " + shell.Quote(secretsScript)
	if o.root != "" {
		cmd = "MPI_ROOT=" + shell.Quote(o.root) + " " + cmd
	}
	if o.tmp != "" {
		cmd = "MPI_SCAN_TMP=" + shell.Quote(o.tmp) + " " + cmd
	}
	start := time.Now()
	out, err := r.Input(ctx, cmd, &in)
	if err != nil {
		return nil, fmt.Errorf("secret scan: %w", err)
	}
	res, err := parseScan(out)
	if err != nil {
		return nil, err
	}
	sc := &SecretScan{Result: scanResult(res, names, short, o.Mode, time.Since(start))}
	for p := range res.hits {
		sc.Files = append(sc.Files, p)
	}
	sort.Strings(sc.Files)
	return sc, nil
}

type scanOutput struct {
	files, unreadable int
	errors            []string
	hits              map[string][]int // path -> groups
}

func parseScan(out []byte) (*scanOutput, error) {
	res := &scanOutput{hits: map[string][]int{}}
	ended := false
	for _, l := range strings.Split(string(out), "\n") {
		parts := strings.Split(l, "\t")
		switch parts[0] {
		case "files", "unreadable":
			n, err := strconv.Atoi(strings.TrimSpace(arg(section{args: parts}, 1)))
			if err != nil {
				return nil, fmt.Errorf("secret scan: %q: %w", l, err)
			}
			if parts[0] == "files" {
				res.files = n
			} else {
				res.unreadable = n
			}
		case "error":
			b, err := base64.StdEncoding.DecodeString(arg(section{args: parts}, 1))
			if err != nil {
				return nil, fmt.Errorf("secret scan: error line: %w", err)
			}
			res.errors = append(res.errors, printable(string(b)))
		case "hit":
			g, err := strconv.Atoi(arg(section{args: parts}, 1))
			if err != nil {
				return nil, fmt.Errorf("secret scan: %q: %w", l, err)
			}
			b, err := base64.StdEncoding.DecodeString(arg(section{args: parts}, 2))
			if err != nil {
				return nil, fmt.Errorf("secret scan: hit path: %w", err)
			}
			p := printable(string(b))
			res.hits[p] = append(res.hits[p], g)
		case "end":
			ended = true
		}
	}
	if !ended {
		return nil, fmt.Errorf("secret scan: the output ends early (no end line): %q", firstLines(string(out), 3))
	}
	return res, nil
}

// cleanupRemoves are files the build_image cleanup deletes: cloud-init's copy of user_data
// (which carries the pinned host key), the host keys, logs, /tmp.
var cleanupRemoves = []string{"/etc/ssh/ssh_host_", "/var/lib/cloud/instances/", "/var/lib/cloud/instance/",
	"/var/lib/cloud/data/", "/var/lib/cloud/handlers/", "/var/log/", "/tmp/", "/var/tmp/"}

func removedByCleanup(p string) bool {
	for _, pre := range cleanupRemoves {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

func scanResult(res *scanOutput, names []string, short []string, mode string, took time.Duration) Result {
	x := Result{ID: SecretsID, Title: "none of the build's own secrets is on the disk", Status: Pass}
	x.Details = []string{fmt.Sprintf("searched %d files for %s in %.1f s", res.files, strings.Join(names, ", "), took.Seconds())}
	paths := make([]string, 0, len(res.hits))
	for p := range res.hits {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	fixable := true
	var found []string
	for _, p := range paths {
		var what []string
		for _, g := range res.hits[p] {
			if g >= 0 && g < len(names) {
				what = append(what, names[g])
			}
		}
		found = append(found, p+": "+strings.Join(what, ", "))
		fixable = fixable && removedByCleanup(p)
	}
	if res.unreadable > 0 {
		x.Details = append(x.Details, fmt.Sprintf("%d files could not be read (vanished or unreadable while searched):", res.unreadable))
		for _, e := range res.errors {
			x.Details = append(x.Details, "  "+e)
		}
	}
	for _, s := range short {
		x.Details = append(x.Details, s+" is shorter than "+strconv.Itoa(MinSecretLen)+" characters and was not searched for")
	}
	if len(found) == 0 {
		return x
	}
	x.Status = Fail
	x.Title = "the build's own secrets are on the disk"
	x.Details = append(found, x.Details...)
	x.Remedy = "make the recipe stop writing them to files (use secrets from the environment while the build runs; generate per-droplet secrets in a per-instance script); no snapshot is taken while they are there"
	// build_base keeps what the cleanup would remove; only there is that a fixable find.
	x.CleanupFixes = fixable && mode == ModeBuildBase
	return x
}

// scanGroups turns the secrets into pattern groups, one per distinct secret name: names[i]
// describes groups[i]. Values too short to search for are listed by name in short.
func scanGroups(secrets []Secret) (groups [][]string, names, short []string) {
	index := map[string]int{}
	for _, s := range secrets {
		pats, ok := patterns(s.Value)
		if !ok {
			if strings.TrimSpace(s.Value) != "" {
				short = append(short, s.Name)
			}
			continue
		}
		i, seen := index[s.Name]
		if !seen {
			i = len(groups)
			index[s.Name] = i
			groups = append(groups, nil)
			names = append(names, s.Name)
		}
		groups[i] = append(groups[i], pats...)
	}
	for i := range groups {
		groups[i] = dedupe(groups[i])
	}
	return groups, names, short
}

// patterns are the fixed strings whose presence in a file means it holds the value: the
// value, its base64 at any byte alignment and its URL-escaped form; for a private key, its
// private part (not the public key, which is no secret) as a PEM file, YAML block, base64
// or hex would spell it. ok is false when the value is too short to search for.
func patterns(v string) (pats []string, ok bool) {
	if pats, ok := keyPatterns([]byte(v)); ok {
		return pats, true
	}
	for _, line := range strings.Split(v, "\n") {
		line = strings.TrimSpace(line)
		if len(line) < MinSecretLen || strings.HasPrefix(line, "-----") {
			continue
		}
		pats = append(pats, line)
		if e := url.QueryEscape(line); e != line {
			pats = append(pats, e)
		}
		pats = append(pats, base64Forms([]byte(line), minPattern)...)
	}
	return pats, len(pats) > 0
}

// base64Forms are the characters that encode b whatever precedes it: for each of the three
// byte alignments, only the characters made of b's bits alone, in both alphabets.
func base64Forms(b []byte, min int) []string {
	var out []string
	for k := 0; k < 3; k++ {
		buf := append(make([]byte, k), b...)
		start, end := (8*k+5)/6, 8*(k+len(b))/6
		if end-start < min {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			out = append(out, enc.EncodeToString(buf)[start:end])
		}
	}
	return out
}

// keyPatterns finds a private key's secret core (an ed25519 seed, an RSA or DSA private
// exponent, an ECDSA scalar) and returns how a copy of the key would show it: each wrapped
// line's piece of the core in PEM bodies 64, 70 (OpenSSH) or 76 wide, indented or not, plus
// the core's base64 at any alignment and its hex.
func keyPatterns(data []byte) ([]string, bool) {
	if !bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		return nil, false
	}
	raw, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		return nil, false
	}
	var core []byte
	switch k := raw.(type) {
	case *ed25519.PrivateKey:
		core = k.Seed()
	case ed25519.PrivateKey:
		core = k.Seed()
	case *rsa.PrivateKey:
		core = k.D.Bytes()
	case *ecdsa.PrivateKey:
		core = k.D.FillBytes(make([]byte, (k.Curve.Params().BitSize+7)/8))
	case *dsa.PrivateKey:
		core = k.X.Bytes()
	default:
		return nil, false
	}
	var out []string
	if block, _ := pem.Decode(data); block != nil {
		if at := bytes.Index(block.Bytes, core); at >= 0 {
			body := base64.StdEncoding.EncodeToString(block.Bytes)
			start, end := (8*at+5)/6, 8*(at+len(core))/6
			for _, width := range []int{64, 70, 76} {
				for pos := 0; pos < len(body); pos += width {
					a, b := max(start, pos), min(end, pos+width)
					if b-a >= minPattern {
						out = append(out, body[a:b])
					}
				}
			}
		}
	}
	out = append(out, base64Forms(core, minPattern)...)
	out = append(out, hex.EncodeToString(core))
	return dedupe(out), true
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
