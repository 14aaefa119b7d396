package lint

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

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
