package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lint as a GitHub Actions step: every finding once, as an annotation with
// its file and line while the runner keeps them (10 per level), as a plain
// line after that, a last line pointing to the job summary, which lists all.
func TestLintAnnotatesOnGitHub(t *testing.T) {
	dir := t.TempDir()
	for i := 1; i <= 12; i++ {
		p := filepath.Join(dir, "scripts", fmt.Sprintf("%02d-install.sh", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("#!/bin/sh\napt-get install nginx\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	summary := filepath.Join(t.TempDir(), "summary.md")
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary}
	var stdout, stderr bytes.Buffer
	code := Main([]string{"lint", "--dir", dir, "--no-shellcheck"}, func(k string) string { return env[k] }, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (errors found); stderr: %s", code, stderr.String())
	}
	out := stdout.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	errs := 0
	for i := 1; i <= 12; i++ {
		file := filepath.Join(dir, "scripts", fmt.Sprintf("%02d-install.sh", i))
		ann := "::error file=" + file + ",line=2,title=lint%3A apt-yes::" // the runner unescapes %3A
		plain := "error: " + file + ":2: lint: apt-yes: "
		na, np := strings.Count(out, ann), strings.Count(out, plain)
		switch {
		case i <= 10 && (na != 1 || np != 0), i > 10 && (na != 0 || np != 1):
			t.Errorf("finding %d: %d annotations, %d plain lines", i, na, np)
		}
		errs += na
		if strings.Count(out, fmt.Sprintf("%02d-install.sh", i)) != 1 {
			t.Errorf("finding %d is printed more than once:\n%s", i, out)
		}
	}
	if errs != 10 {
		t.Errorf("%d error annotations, want 10", errs)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "2 more error(s)") || !strings.Contains(last, "job summary") {
		t.Errorf("last line %q does not point to the job summary for the 2 more errors", last)
	}
	md, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 12; i++ {
		if !strings.Contains(string(md), fmt.Sprintf("%02d-install.sh:2", i)) {
			t.Errorf("job summary lacks finding %d:\n%s", i, md)
		}
	}
}
