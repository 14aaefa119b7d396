package lint

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"time"
)

// command is one simple command of a script: its words and starting line.
type command struct {
	line  int
	words []string
	piped bool   // its input comes from a pipe
	first string // the first word of the whole line (while, until, ...)
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// commands splits a script into simple commands. It is a heuristic, not a
// shell parser: good enough for the prompts and flags lint looks for.
func commands(body []byte) []command {
	var out []command
	lines := strings.Split(string(body), "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := strings.TrimRight(lines[i], "\r")
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) { // continuation lines
			i++
			line = strings.TrimSuffix(line, "\\") + " " + strings.TrimRight(lines[i], "\r")
		}
		words, seps := split(line)
		first := ""
		var cur []string
		piped := false
		flush := func(nextPiped bool) {
			if len(cur) > 0 {
				out = append(out, command{line: start, words: cur, piped: piped, first: first})
			}
			cur, piped = nil, nextPiped
		}
		for j, w := range words {
			if first == "" {
				first = w
			}
			if s := seps[j]; s != "" {
				flush(s == "|")
				continue
			}
			cur = append(cur, w)
		}
		flush(false)
	}
	return out
}

// split breaks a line into words and separators (; && || | &), honouring
// quotes and dropping comments. seps[i] is non-empty when words[i] is a separator.
func split(line string) (words, seps []string) {
	var cur strings.Builder
	inWord := false
	var quote byte
	emit := func() {
		if inWord {
			words, seps = append(words, cur.String()), append(seps, "")
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '#' && !inWord:
			emit()
			return
		case c == ' ' || c == '\t':
			emit()
		case c == '&' && i > 0 && (line[i-1] == '>' || line[i-1] == '<'):
			cur.WriteByte(c) // 2>&1, >&2: a redirection, not a separator
		case c == ';' || c == '|' || c == '&' || c == '(' || c == ')' || c == '`':
			emit()
			sep := string(c)
			if i+1 < len(line) && (line[i+1] == '|' || line[i+1] == '&') && c != ';' {
				sep += string(line[i+1])
				i++
			}
			words, seps = append(words, sep), append(seps, sep)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	emit()
	return
}

// name returns the command's program, skipping env assignments and wrappers,
// and whether DEBIAN_FRONTEND=noninteractive was set on the command itself.
func (c command) name() (string, []string, bool) {
	nonInteractive := false
	w := c.words
	for len(w) > 0 {
		switch {
		case assignment.MatchString(w[0]):
			if w[0] == "DEBIAN_FRONTEND=noninteractive" {
				nonInteractive = true
			}
		case w[0] == "sudo" || w[0] == "env" || w[0] == "command" || w[0] == "exec" || w[0] == "nohup" || w[0] == "time" || w[0] == "-E":
		default:
			return path.Base(w[0]), w[1:], nonInteractive
		}
		w = w[1:]
	}
	return "", nil, nonInteractive
}

var aptNeedsYes = map[string]bool{"install": true, "upgrade": true, "full-upgrade": true, "dist-upgrade": true, "remove": true, "purge": true, "autoremove": true, "reinstall": true}
var aptPrompts = map[string]bool{"install": true, "upgrade": true, "full-upgrade": true, "dist-upgrade": true, "reinstall": true}

// checkShell looks for commands that wait for a person: the build has no
// terminal and stdin is closed, so they hang or fail. at > 0 reports every
// finding at that line (inline scripts of a template).
func checkShell(file string, body []byte, env map[string]string, at int) []Finding {
	scriptNonInteractive := env["DEBIAN_FRONTEND"] == "noninteractive" ||
		regexp.MustCompile(`DEBIAN_FRONTEND=["']?noninteractive`).Match(body)
	var out []Finding
	add := func(c command, rule, sev, msg string) {
		line := c.line
		if at > 0 {
			line = at
		}
		out = append(out, Finding{File: file, Line: line, Rule: rule, Severity: sev, Message: msg})
	}
	for _, c := range commands(body) {
		prog, args, cmdNonInteractive := c.name()
		nonInteractive := scriptNonInteractive || cmdNonInteractive
		switch prog {
		case "apt", "apt-get", "aptitude":
			sub := ""
			for _, a := range args {
				if !strings.HasPrefix(a, "-") {
					sub = a
					break
				}
			}
			if !aptNeedsYes[sub] {
				break
			}
			if !hasYes(args) {
				add(c, "apt-yes", Error, fmt.Sprintf("%s %s without -y waits for a confirmation the build cannot give: add -y", prog, sub))
			} else if aptPrompts[sub] && !nonInteractive {
				add(c, "apt-frontend", Warning, fmt.Sprintf("%s %s can still stop at debconf or conffile prompts: set DEBIAN_FRONTEND=noninteractive (and -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)", prog, sub))
			}
		case "add-apt-repository":
			if !hasYes(args) {
				add(c, "apt-yes", Error, "add-apt-repository without -y waits for Enter: add -y")
			}
		case "read":
			if c.piped || c.first == "while" || c.first == "until" || hasRedirect(args) {
				break // reads from a pipe or a file, not from a person
			}
			add(c, "read-prompt", Error, "read waits for input, but the build has no terminal and stdin is closed: take the value from the environment (env input) instead")
		case "ufw":
			if len(args) > 0 && args[len(args)-1] == "enable" && !contains(args, "--force") {
				add(c, "ufw-force", Error, "ufw enable asks for confirmation: use ufw --force enable")
			}
		case "dpkg-reconfigure":
			if !nonInteractive && !frontendFlag(args) {
				add(c, "debconf-frontend", Warning, "dpkg-reconfigure opens a dialog: use dpkg-reconfigure -f noninteractive (or DEBIAN_FRONTEND=noninteractive)")
			}
		}
	}
	return out
}

func hasYes(args []string) bool {
	for _, a := range args {
		switch {
		case a == "--yes" || a == "--assume-yes" || a == "--force-yes":
			return true
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "y"):
			return true
		case strings.Contains(strings.ToLower(a), "assume-yes=true"):
			return true
		}
	}
	return false
}

func frontendFlag(args []string) bool {
	for i, a := range args {
		switch {
		case a == "-fnoninteractive" || a == "--frontend=noninteractive":
			return true
		case (a == "-f" || a == "--frontend") && i+1 < len(args) && args[i+1] == "noninteractive":
			return true
		}
	}
	return false
}

func hasRedirect(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "<") {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// shellcheckShells are the interpreters shellcheck understands.
var shellcheckShells = regexp.MustCompile(`^#!\s*(/usr)?/bin/(env\s+)?(sh|bash|dash|ksh)\b`)

// shellcheck runs shellcheck on each shell script and maps its findings. A
// missing shellcheck is one info finding, not a failure: lint must work anywhere.
func shellcheck(scripts []scriptFile, o Options) []Finding {
	if o.NoShellcheck || len(scripts) == 0 {
		return nil
	}
	bin := o.Shellcheck
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("shellcheck"); err != nil {
			return []Finding{{File: scripts[0].path, Rule: "shellcheck-missing", Severity: Info,
				Message: "shellcheck is not installed, its checks were skipped: apt-get install shellcheck"}}
		}
	}
	var out []Finding
	for _, s := range scripts {
		// Files without a shell shebang or with CRLF already have a finding;
		// shellcheck would only repeat it.
		if !shellcheckShells.Match(s.body) || bytes.Contains(s.body, []byte("\r\n")) {
			continue
		}
		out = append(out, runShellcheck(bin, s.path)...)
	}
	return out
}

type scComment struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Level   string `json:"level"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func runShellcheck(bin, file string) []Finding {
	// shellcheck on one script takes well under a second; the bound only
	// keeps a wedged process from stalling a CI job.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-f", "json", "-x", file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var comments []scComment
	if jerr := json.Unmarshal(stdout.Bytes(), &comments); jerr != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" && err != nil {
			msg = err.Error()
		}
		return []Finding{{File: file, Rule: "shellcheck-failed", Severity: Info, Message: "shellcheck could not check this file: " + msg}}
	}
	var out []Finding
	for _, c := range comments {
		sev := Info
		switch c.Level {
		case "error":
			sev = Error
		case "warning":
			sev = Warning
		}
		out = append(out, Finding{File: file, Line: c.Line, Rule: fmt.Sprintf("shellcheck/SC%d", c.Code), Severity: sev,
			Message: fmt.Sprintf("%s (https://www.shellcheck.net/wiki/SC%d)", c.Message, c.Code)})
	}
	return out
}
