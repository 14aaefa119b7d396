// Package lint finds what would make a Marketplace build hang, fail or leak secrets, from the recipe or template alone (no credentials needed).
package lint

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

// Severities, from most to least serious.
const (
	Error   = "error"
	Warning = "warning"
	Info    = "info"
)

// Finding is one problem at a file and line (Line 0: the whole file).
type Finding struct {
	File     string
	Line     int
	Rule     string
	Severity string
	Message  string
}

func (f Finding) String() string {
	loc := f.File
	if f.Line > 0 {
		loc = fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	return fmt.Sprintf("%s: %s: %s [%s]", loc, f.Severity, f.Message, f.Rule)
}

// Options tune a lint run.
type Options struct {
	Shellcheck   string // shellcheck binary; "" looks it up on PATH
	NoShellcheck bool   // do not run shellcheck even when installed
}

// Dir lints a recipe folder. It never stops at the first problem and works on
// folders recipe.Load would refuse, so a pull request sees everything at once.
func Dir(dir string, o Options) []Finding {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return []Finding{{File: dir, Rule: "recipe", Severity: Error, Message: "not a recipe folder: pass --dir with a folder holding files/, scripts/ ..."}}
	}
	var out []Finding
	var scripts []scriptFile
	var image []imageFile
	walkErr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			out = append(out, Finding{File: p, Rule: "recipe", Severity: Error, Message: err.Error()})
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && p != dir {
				return filepath.SkipDir // .git and the like
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		top, name, _ := strings.Cut(rel, "/")
		body, err := os.ReadFile(p)
		if err != nil {
			out = append(out, Finding{File: p, Rule: "recipe", Severity: Error, Message: err.Error()})
			return nil
		}
		info, _ := d.Info()
		isScript := false
		switch top {
		case recipe.DirScripts, recipe.DirPerInstance, recipe.DirFirstLogin, recipe.DirVerify:
			if strings.Contains(name, "/") || strings.HasPrefix(path.Base(name), ".") {
				break
			}
			isScript = true
			out = append(out, checkShebang(p, body)...)
			out = append(out, checkCRLF(p, body, Error)...)
			scripts = append(scripts, scriptFile{path: p, body: body, perInstance: top == recipe.DirPerInstance})
			if top == recipe.DirPerInstance {
				if info != nil && info.Mode().Perm()&0o111 == 0 {
					out = append(out, Finding{File: p, Rule: "executable", Severity: Error,
						Message: fmt.Sprintf("cloud-init runs per-instance scripts directly and skips this one: chmod +x %s", p)})
				}
				if !numbered.MatchString(name) {
					out = append(out, Finding{File: p, Rule: "per-instance-name", Severity: Warning,
						Message: fmt.Sprintf("cloud-init runs per-instance scripts in name order: give it a numbered prefix such as 001_%s", name)})
				}
			}
		case recipe.DirFiles:
			out = append(out, checkCritical(p, "/"+name)...)
			out = append(out, checkCRLF(p, body, Warning)...)
			image = append(image, imageFile{local: p, remote: "/" + name, body: body})
		}
		if !isScript || !isShell(body) { // a shell script's secrets come from its parsed words
			out = append(out, checkSecrets(p, body)...)
		}
		return nil
	})
	if walkErr != nil {
		out = append(out, Finding{File: dir, Rule: "recipe", Severity: Error, Message: walkErr.Error()})
	}
	var parsed []*script
	for _, sf := range scripts {
		if isShell(sf.body) {
			sc := parseScript(sf.path, sf.body, nil, 0)
			sc.secrets(sf.body)
			sc.perInstance = sf.perInstance
			parsed = append(parsed, sc)
			out = append(out, sc.out...)
		}
	}
	out = append(out, recipeRules(parsed, image)...)
	out = append(out, shellcheck(scripts, o)...)
	sortFindings(out)
	return out
}

// Template lints the scripts and uploads of a compiled Packer template plan:
// script files at their own lines, inline scripts at the provisioner's line.
func Template(plan *recipe.Plan, o Options) []Finding {
	var out []Finding
	var scripts []scriptFile
	var parsed []*script
	var image []imageFile
	seen := map[string]bool{}
	for _, a := range plan.Actions {
		switch {
		case a.Kind == recipe.KindShell && a.ScriptPath != "":
			if seen[a.ScriptPath] {
				continue
			}
			seen[a.ScriptPath] = true
			out = append(out, checkShebang(a.ScriptPath, a.Script)...)
			out = append(out, checkCRLF(a.ScriptPath, a.Script, Error)...)
			scripts = append(scripts, scriptFile{path: a.ScriptPath, body: a.Script})
			if !isShell(a.Script) {
				out = append(out, checkSecrets(a.ScriptPath, a.Script)...)
				continue
			}
			sc := parseScript(a.ScriptPath, a.Script, a.Env, 0)
			sc.secrets(a.Script)
			parsed = append(parsed, sc)
			out = append(out, sc.out...)
		case a.Kind == recipe.KindShell:
			// Inline lines have no line of their own we know: report at the provisioner.
			sc := parseScript(a.File, a.Script, a.Env, a.Line)
			sc.secrets(a.Script)
			parsed = append(parsed, sc)
			out = append(out, sc.out...)
		case a.Kind.IsCopy():
			files := uploaded(a)
			for _, f := range files {
				out = append(out, checkSecrets(f.local, f.body)...)
				out = append(out, checkCritical(f.local, f.remote)...)
				if path.Dir(f.remote) == perInstanceDir && isShell(f.body) {
					sc := parseScript(f.local, f.body, nil, 0)
					sc.perInstance = true
					parsed = append(parsed, sc) // for what it removes; its own findings are not a template's
				}
			}
			image = append(image, files...)
		}
	}
	out = append(out, recipeRules(parsed, image)...)
	out = append(out, shellcheck(scripts, o)...)
	sortFindings(out)
	return dedupeFindings(out)
}

// perInstanceDir is where cloud-init finds the scripts it runs once per droplet.
const perInstanceDir = "/var/lib/cloud/scripts/per-instance"

// imageFile is a file the recipe puts on the image.
type imageFile struct {
	local, remote string
	body          []byte
}

// uploaded lists the files a template's file provisioner copies.
func uploaded(a recipe.Action) []imageFile {
	if !a.Contents {
		body, err := os.ReadFile(a.LocalPath)
		if err != nil {
			return []imageFile{{local: a.LocalPath, remote: a.RemotePath}}
		}
		return []imageFile{{local: a.LocalPath, remote: a.RemotePath, body: body}}
	}
	var out []imageFile
	_ = filepath.WalkDir(a.LocalPath, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(a.LocalPath, p)
		body, _ := os.ReadFile(p)
		out = append(out, imageFile{local: p, remote: path.Join(a.RemotePath, filepath.ToSlash(rel)), body: body})
		return nil
	})
	return out
}

type scriptFile struct {
	path        string
	body        []byte
	perInstance bool
}

var numbered = regexp.MustCompile(`^[0-9]+[_-]`)

func checkShebang(file string, body []byte) []Finding {
	if bytes.HasPrefix(body, []byte("#!")) {
		return nil
	}
	return []Finding{{File: file, Line: 1, Rule: "shebang", Severity: Error,
		Message: "no shebang: scripts run by their own interpreter, add a first line such as #!/bin/bash"}}
}

func checkCRLF(file string, body []byte, sev string) []Finding {
	i := bytes.Index(body, []byte("\r\n"))
	if i < 0 || isBinary(body) {
		return nil
	}
	return []Finding{{File: file, Line: bytes.Count(body[:i], []byte("\n")) + 1, Rule: "crlf", Severity: sev,
		Message: fmt.Sprintf("CRLF (Windows) line endings break shell scripts and configs: dos2unix %s", file)}}
}

// critical are files a recipe should change with a drop-in or an edit, never
// replace: a copy from another release breaks logins, boots or updates.
var critical = map[string]struct{ sev, fix string }{
	"/etc/ssh/sshd_config":  {Warning, "add a drop-in in files/etc/ssh/sshd_config.d/ instead"},
	"/etc/sudoers":          {Warning, "add a drop-in in files/etc/sudoers.d/ instead"},
	"/etc/passwd":           {Error, "create users with useradd in a script"},
	"/etc/shadow":           {Error, "set passwords in a per-instance script (chpasswd), never in the image"},
	"/etc/group":            {Error, "create groups with groupadd in a script"},
	"/etc/gshadow":          {Error, "create groups with groupadd in a script"},
	"/etc/fstab":            {Error, "append entries from a script; the droplet's own root entry must stay"},
	"/etc/hosts":            {Warning, "cloud-init manages it: use manage_etc_hosts or edit it in a script"},
	"/etc/resolv.conf":      {Warning, "it is managed by systemd-resolved/cloud-init: configure resolved instead"},
	"/etc/apt/sources.list": {Warning, "add a file in files/etc/apt/sources.list.d/ instead"},
	"/etc/default/grub":     {Warning, "add a drop-in in files/etc/default/grub.d/ instead"},
}

func checkCritical(file, remote string) []Finding {
	c, ok := critical[path.Clean(remote)]
	if !ok {
		return nil
	}
	return []Finding{{File: file, Rule: "critical-file", Severity: c.sev,
		Message: fmt.Sprintf("replaces %s wholesale: %s", path.Clean(remote), c.fix)}}
}

// secretPatterns look for credentials committed with the recipe; password
// marks the pattern that would only flag documentation in a comment.
var secretPatterns = []struct {
	re       *regexp.Regexp
	what     string
	password bool
}{
	{regexp.MustCompile(`-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----`), "a private key", false},
	{regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`), "an AWS access key id", false},
	{regexp.MustCompile(`\bdo[opr]_v1_[a-f0-9]{64}\b`), "a DigitalOcean API token", false},
	{regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36,}\b`), "a GitHub token", false},
	{regexp.MustCompile(`(?i)\b[a-z0-9_]*(password|passwd)[a-z0-9_]*["']?\s*[:=]\s*["']?[^\s"'$%{}()<>;|&]{4,}`), "a literal password", true},
}

func secretMessage(what string) string {
	return fmt.Sprintf("looks like %s: generate it on the droplet (per-instance script) or pass it as a CI secret, never commit it", what)
}

// checkSecrets reports lines of a file that look like committed
// credentials. at > 0 reports every hit at that line.
func checkSecrets(file string, body []byte, at ...int) []Finding {
	if isBinary(body) {
		return nil
	}
	var out []Finding
	for i, line := range strings.Split(string(body), "\n") {
		for _, p := range secretPatterns {
			if p.re.MatchString(line) {
				n := i + 1
				if len(at) > 0 && at[0] > 0 {
					n = at[0]
				}
				out = append(out, Finding{File: file, Line: n, Rule: "secret", Severity: Error, Message: secretMessage(p.what)})
				break
			}
		}
	}
	return out
}

func isBinary(b []byte) bool {
	if len(b) > 8000 {
		b = b[:8000]
	}
	return bytes.IndexByte(b, 0) >= 0
}

func sortFindings(f []Finding) {
	sort.SliceStable(f, func(i, j int) bool {
		if f[i].File != f[j].File {
			return f[i].File < f[j].File
		}
		if f[i].Line != f[j].Line {
			return f[i].Line < f[j].Line
		}
		return f[i].Rule < f[j].Rule
	})
}

func dedupeFindings(f []Finding) []Finding {
	var out []Finding
	for i, x := range f {
		if i > 0 && x == f[i-1] {
			continue
		}
		out = append(out, x)
	}
	return out
}

// ExitCode maps findings to a process exit status: 1 when any finding is at
// least as severe as failOn ("error", the default when empty; "warning";
// "info"), 0 otherwise or when failOn is "never" (the option table accepts
// no other value).
func ExitCode(findings []Finding, failOn string) int {
	rank := map[string]int{Error: 3, Warning: 2, Info: 1}
	if failOn == "" {
		failOn = Error
	}
	if failOn == "never" {
		return 0
	}
	for _, f := range findings {
		if rank[f.Severity] >= rank[failOn] {
			return 1
		}
	}
	return 0
}
