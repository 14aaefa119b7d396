package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runnerEnv creates the files a GitHub runner gives a docker action and returns a getenv over them.
func runnerEnv(t *testing.T) (func(string) string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{"GITHUB_ACTIONS": "true"}
	for _, k := range []string{"GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"} {
		p := filepath.Join(dir, strings.ToLower(k))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		env[k] = p
	}
	return func(k string) string { return env[k] }, env
}

func readParsed(t *testing.T, path string) (map[string]string, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseFileCommands(string(data))
	if err != nil {
		t.Fatalf("parse %s: %v\n%s", path, err, data)
	}
	return m, string(data)
}

const token = "dop_v1_0123456789abcdef0123456789abcdef"

func TestGitHubSink(t *testing.T) {
	getenv, env := runnerEnv(t)
	var out bytes.Buffer
	g := NewGitHub(getenv, &out)

	g.Mask(token)
	g.StepStart("provision")
	g.Annotate(Annotation{Level: "error", File: "examples/lemp/scripts/10-nginx.sh", Line: 12, Title: "script failed", Message: "exit status 1\nsee log"})
	g.StepEnd(StepRecord{Name: "provision", Status: StatusFailed, Detail: "10-nginx.sh: exit 1"})
	g.StepStart("cleanup")
	g.StepStart("snapshot") // an unbalanced start closes the open group
	g.StepEnd(StepRecord{Name: "snapshot", Status: StatusFailed, Detail: "timed out"})
	g.State("droplet_id", "4242")
	g.State("token", token) // refused: a secret never goes to state
	o := Outputs{SnapshotID: "1234", SnapshotName: "lemp-2025-01-01-ab", SnapshotRegions: []string{"nyc3", "ams3"},
		DropletID: 4242, DropletIP: "10.200.0.11", Validation: "pass", ReportPath: "/github/workspace/r.json", ManifestPath: "m.json", KeyPath: ".mp-image/k.key"}
	if err := g.Outputs(o); err != nil {
		t.Fatal(err)
	}
	if err := g.Summary("## build\n| a | b |"); err != nil {
		t.Fatal(err)
	}

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"::add-mask::" + token,
		"::group::provision",
		"::error file=examples/lemp/scripts/10-nginx.sh,line=12,title=script failed::exit status 1%0Asee log",
		"::endgroup::",
		"::group::cleanup",
		"::endgroup::",
		"::group::snapshot",
		"::endgroup::",
		"::error title=mp-image%3A snapshot::timed out",
	}
	if len(lines) < len(want) {
		t.Fatalf("stdout:\n%s", out.String())
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("stdout line %d = %q, want %q", i, lines[i], w)
		}
	}
	if rest := strings.Join(lines[len(want):], "\n"); !strings.HasPrefix(rest, "::warning::") || strings.Contains(rest, token) {
		t.Errorf("refused state should give one warning without the token, got %q", rest)
	}

	outputs, raw := readParsed(t, env["GITHUB_OUTPUT"])
	wantOut := map[string]string{"snapshot-id": "1234", "snapshot-name": "lemp-2025-01-01-ab", "snapshot-regions": "nyc3,ams3",
		"droplet-id": "4242", "droplet-ip": "10.200.0.11", "validation": "pass", "report": "/github/workspace/r.json", "manifest": "m.json",
		"ssh-key-path": ".mp-image/k.key", "sbom": "", "provenance": ""}
	if len(outputs) != len(wantOut) {
		t.Errorf("outputs = %v", outputs)
	}
	for k, v := range wantOut {
		if outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, outputs[k], v)
		}
	}
	delims := regexp.MustCompile(`(?m)^snapshot-id<<(ghadelimiter_[0-9a-f]{32})$`).FindStringSubmatch(raw)
	other := regexp.MustCompile(`(?m)^snapshot-name<<(ghadelimiter_[0-9a-f]{32})$`).FindStringSubmatch(raw)
	if delims == nil || other == nil || delims[1] == other[1] {
		t.Errorf("want a fresh random delimiter per value:\n%s", raw)
	}

	state, _ := readParsed(t, env["GITHUB_STATE"])
	if state["droplet_id"] != "4242" || len(state) != 1 {
		t.Errorf("state = %v, want only droplet_id", state)
	}
	summary, _ := os.ReadFile(env["GITHUB_STEP_SUMMARY"])
	if string(summary) != "## build\n| a | b |\n" {
		t.Errorf("summary = %q", summary)
	}
}

func TestGitHubSinkRefusesSecrets(t *testing.T) {
	getenv, env := runnerEnv(t)
	g := NewGitHub(getenv, new(bytes.Buffer))
	g.Mask("-----BEGIN KEY-----\nc2VjcmV0IGtleSBib2R5\n-----END KEY-----\n")
	if err := g.Outputs(Outputs{SnapshotName: "x c2VjcmV0IGtleSBib2R5"}); err == nil {
		t.Error("an output holding a line of a masked key was written")
	}
	if err := g.Summary("oops c2VjcmV0IGtleSBib2R5"); err == nil {
		t.Error("a summary holding a masked key was written")
	}
	for _, k := range []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"} {
		if data, _ := os.ReadFile(env[k]); len(data) != 0 {
			t.Errorf("%s got %q", k, data)
		}
	}
}

func TestGitHubSinkWithoutRunnerFiles(t *testing.T) {
	var out bytes.Buffer
	g := NewGitHub(func(string) string { return "" }, &out)
	if err := g.Outputs(Outputs{SnapshotID: "1"}); err == nil || !strings.Contains(err.Error(), "GITHUB_OUTPUT is not set") {
		t.Errorf("Outputs err = %v", err)
	}
	if err := g.Summary("x"); err == nil {
		t.Error("Summary without GITHUB_STEP_SUMMARY succeeded")
	}
	g.State("k", "v") // must not panic
	if !strings.Contains(out.String(), "::warning::") {
		t.Errorf("lost state should warn, got %q", out.String())
	}
}

func TestFileCommandRoundTrip(t *testing.T) {
	values := map[string]string{
		"plain":     "v",
		"empty":     "",
		"multiline": "a\nb\n\nc",
		"injection": "x\nEOF\nsnapshot-id=666\n_GitHubActionsFileCommandDelimeter_",
		"equals":    "a=b",
	}
	var b strings.Builder
	for k, v := range values {
		rec, err := FileCommand(k, v)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(rec)
	}
	got, err := ParseFileCommands(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(values) {
		t.Errorf("got %d values, want %d: %v", len(got), len(values), got)
	}
	for k, v := range values {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{"", "a\nb", "a=b", "a<<b"} {
		if _, err := FileCommand(bad, "v"); err == nil {
			t.Errorf("FileCommand(%q) accepted", bad)
		}
	}
	if _, err := ParseFileCommands("k<<D\nv\n"); err == nil {
		t.Error("unterminated heredoc parsed")
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		opts  []DetectOption
		kinds []string
	}{
		{"terminal or plain CI", nil, nil, []string{"*report.Console"}},
		{"GitHub Actions", map[string]string{"GITHUB_ACTIONS": "true"}, nil, []string{"*report.GitHub", "*report.Console"}},
		{"GITHUB_ACTIONS not true", map[string]string{"GITHUB_ACTIONS": "false"}, nil, []string{"*report.Console"}},
		{"GitLab dotenv", map[string]string{"GITLAB_CI": "true"}, []DetectOption{WithDotenv("build.env")}, []string{"*report.Console", "*report.Dotenv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Detect(func(k string) string { return tt.env[k] }, new(bytes.Buffer), tt.opts...)
			m, ok := s.(Multi)
			if !ok {
				t.Fatalf("Detect gave %T", s)
			}
			var kinds []string
			for _, x := range m {
				kinds = append(kinds, typeName(x))
			}
			if strings.Join(kinds, ",") != strings.Join(tt.kinds, ",") {
				t.Errorf("sinks = %v, want %v", kinds, tt.kinds)
			}
		})
	}
}

func typeName(x any) string {
	switch x.(type) {
	case *Console:
		return "*report.Console"
	case *GitHub:
		return "*report.GitHub"
	case *Dotenv:
		return "*report.Dotenv"
	}
	return "?"
}

// Outside GitHub, a whole build's calls must never touch the file-command paths.
func TestDetectOutsideGitHubNeverNeedsRunnerFiles(t *testing.T) {
	var out bytes.Buffer
	s := Detect(func(string) string { return "" }, &out)
	s.Mask(token)
	s.StepStart("a")
	s.State("droplet_id", "1")
	s.StepEnd(StepRecord{Name: "a", Status: StatusOK})
	if err := s.Outputs(Outputs{SnapshotID: "9"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Summary("x"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "::") {
		t.Errorf("workflow commands outside GitHub: %q", out.String())
	}
}

// What the main step saves comes back to the post step as STATE_<key>.
func TestStateRoundTripToPostStep(t *testing.T) {
	getenv, env := runnerEnv(t)
	g := NewGitHub(getenv, new(bytes.Buffer))
	g.State(StateRunID, "r1")
	g.State(StateAPIURL, "http://127.0.0.1:9/")
	g.State(StateDropletID, "42")
	g.State(StateKeyID, "7")
	g.State(StateDone, "true")
	saved, _ := readParsed(t, env["GITHUB_STATE"])
	post := func(k string) string {
		if name, ok := strings.CutPrefix(k, "STATE_"); ok {
			return saved[name]
		}
		return ""
	}
	got := ReadState(post)
	want := SavedState{RunID: "r1", APIURL: "http://127.0.0.1:9/", DropletID: 42, KeyID: 7, Done: true}
	if got != want {
		t.Errorf("ReadState = %+v, want %+v", got, want)
	}
	if (ReadState(func(string) string { return "x" }) != SavedState{RunID: "x", APIURL: "x"}) {
		t.Error("unparsable IDs should read as 0")
	}
}

// On GitHub the group opens before the console's step line, so the line sits inside it.
func TestDetectOrderOnGitHub(t *testing.T) {
	getenv, _ := runnerEnv(t)
	var out bytes.Buffer
	s := Detect(getenv, &out, WithClock(func() time.Time { return time.Time{} }))
	s.StepStart("provision")
	s.Log("hello")
	s.StepEnd(StepRecord{Name: "provision", Status: StatusOK})
	want := "::group::provision\n[ 0:00] ==> provision\nhello\n::endgroup::\n[ 0:00] ok provision (0s)\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// The runner needs the literal value in the mask line, before anything else,
// while the redactor hides it everywhere else in the same stream.
func TestMaskLineIsLiteralThroughTheRedactor(t *testing.T) {
	getenv, _ := runnerEnv(t)
	var out bytes.Buffer
	red := NewRedactor(&out)
	red.Add(token)
	s := Detect(getenv, red, WithClock(func() time.Time { return time.Time{} }))
	s.Mask(token)
	s.Mask(token) // once per value
	s.Mask("pass%word\nsecond line")
	s.StepStart("provision")
	s.Log("the token is " + token)
	s.Annotate(Annotation{Level: "error", Title: "t", Message: "bad " + token})
	red.Flush()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"::add-mask::" + token, "::add-mask::pass%25word", "::add-mask::second line", "::group::provision"}
	for i, w := range want {
		if i >= len(lines) || lines[i] != w {
			t.Fatalf("line %d: got %q, want %q\n%s", i, lines[min(i, len(lines)-1)], w, out.String())
		}
	}
	if n := strings.Count(out.String(), token); n != 1 {
		t.Errorf("the token appears %d times, want once (the mask line):\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "the token is ***") || !strings.Contains(out.String(), "::bad ***") {
		t.Errorf("the token is not redacted after the mask line:\n%s", out.String())
	}
}

// GitHub keeps 10 annotations per level per step: the rest are printed once
// as plain lines, and a last line points to the job summary.
func TestAnnotationsAtMostTenPerLevel(t *testing.T) {
	getenv, _ := runnerEnv(t)
	var out bytes.Buffer
	g := NewGitHub(getenv, &out)
	for i := 1; i <= 12; i++ {
		g.Annotate(Annotation{Level: "warning", File: "scripts/a.sh", Line: i, Title: "lint: x", Message: fmt.Sprintf("finding %d", i)})
	}
	g.Annotate(Annotation{Level: "error", Title: "e", Message: "one error"})
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var warnings, errors int
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "::warning "):
			warnings++
		case strings.HasPrefix(l, "::error "):
			errors++
		}
	}
	if warnings != 10 || errors != 1 {
		t.Errorf("%d warning and %d error annotations, want 10 and 1:\n%s", warnings, errors, out.String())
	}
	for _, w := range []string{"warning: scripts/a.sh:11: lint: x: finding 11", "warning: scripts/a.sh:12: lint: x: finding 12"} {
		if strings.Count(out.String(), w) != 1 {
			t.Errorf("over-limit finding %q not printed once:\n%s", w, out.String())
		}
	}
	last := lines[len(lines)-1]
	if !strings.Contains(last, "2 more warning(s)") || !strings.Contains(last, "job summary") {
		t.Errorf("last line = %q, want a pointer to the job summary for 2 more warnings", last)
	}
	for i := 1; i <= 12; i++ {
		if n := strings.Count(out.String()+"\n", fmt.Sprintf("finding %d\n", i)); n != 1 {
			t.Errorf("finding %d printed %d times, want once", i, n)
		}
	}
}
