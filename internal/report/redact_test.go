package report

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

func TestRedactor(t *testing.T) {
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----"
	tests := []struct {
		name, in, want string
	}{
		{"plain", "token=" + token + " end", "token=*** end"},
		{"twice", token + token, "******"},
		{"base64", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(token)), "Authorization: Basic ***"},
		{"url escaped", "GET /?t=" + url.QueryEscape("p@ss w/rd+1") + " HTTP", "GET /?t=*** HTTP"},
		{"key line", "debug: b3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n", "debug: ***\n"},
		{"whole key", "k=" + key + "!", "k=***!"},
		{"prefix only is kept", "dop_v1_01 is not the token", "dop_v1_01 is not the token"},
		{"nothing secret", "hello\nworld\n", "hello\nworld\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r := NewRedactor(&out)
			r.Add(token)
			r.Add("p@ss w/rd+1")
			r.Add(key)
			r.Add("") // ignored, must not redact everything
			if n, err := r.Write([]byte(tt.in)); err != nil || n != len(tt.in) {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if err := r.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got %q, want %q", out.String(), tt.want)
			}
			if got := r.Redact(tt.in); got != tt.want {
				t.Errorf("Redact = %q, want %q", got, tt.want)
			}
		})
	}
}

// A secret cut across writes at any point is still replaced.
func TestRedactorSplitWrites(t *testing.T) {
	redactCuts(t, "before "+token+" after\n", "before *** after\n")
}

// redactCuts writes in cut in three at every pair of places (the second in
// steps of 7) and wants out each time.
func redactCuts(t *testing.T, in, want string) {
	t.Helper()
	for cut := 0; cut <= len(in); cut++ {
		for cut2 := cut; cut2 <= len(in); cut2 += 7 {
			var out bytes.Buffer
			r := NewRedactor(&out)
			r.Add(token)
			r.Write([]byte(in[:cut]))
			r.Write([]byte(in[cut:cut2]))
			r.Write([]byte(in[cut2:]))
			r.Flush()
			if out.String() != want {
				t.Fatalf("writes cut at %d and %d:\n got %q\nwant %q", cut, cut2, out.String(), want)
			}
		}
	}
}

func TestRedactorDoesNotHoldBackInnocentOutput(t *testing.T) {
	var out bytes.Buffer
	r := NewRedactor(&out)
	r.Add(token)
	r.Write([]byte("progress 42%\rprogress 43% dop_"))
	if got := out.String(); got != "progress 42%\rprogress 43% " {
		t.Errorf("passed on %q, want everything before the possible secret start", got)
	}
	r.Write([]byte("x"))
	if got := out.String(); got != "progress 42%\rprogress 43% dop_x" {
		t.Errorf("after a mismatch got %q", got)
	}
}

func BenchmarkRedactor(b *testing.B) {
	line := []byte(strings.Repeat("Setting up nginx-common (1.22.1-9) ... ", 3) + "\n")
	r := NewRedactor(&bytes.Buffer{})
	r.Add(token)
	r.Add("another-secret-value")
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		r.Write(line)
	}
}

func TestRedactorSeesThroughForTerminalCheck(t *testing.T) {
	if NewRedactor(new(bytes.Buffer)).IsTerminal() {
		t.Error("a buffer behind a redactor counts as a terminal")
	}
	if isTerminal(NewRedactor(NewRedactor(new(bytes.Buffer)))) {
		t.Error("nested redactors over a buffer count as a terminal")
	}
}

// recordSink keeps what reaches it.
type recordSink struct {
	masks, logs []string
	outs        []string // Output and Partial, as "[source] text"
	progress    Progress
	rec         StepRecord
	ann         Annotation
	state       string
	out         Outputs
	summary     string
}

func (r *recordSink) Mask(s string)           { r.masks = append(r.masks, s) }
func (r *recordSink) StepStart(string)        {}
func (r *recordSink) StepEnd(rec StepRecord)  { r.rec = rec }
func (r *recordSink) Log(l string)            { r.logs = append(r.logs, l) }
func (r *recordSink) Annotate(a Annotation)   { r.ann = a }
func (r *recordSink) Output(src, l string)    { r.outs = append(r.outs, "["+src+"] "+l) }
func (r *recordSink) Partial(src, f string)   { r.outs = append(r.outs, "["+src+"] "+f) }
func (r *recordSink) Progress(p Progress)     { r.progress = p }
func (r *recordSink) State(_, v string)       { r.state = v }
func (r *recordSink) Outputs(o Outputs) error { r.out = o; return nil }
func (r *recordSink) Summary(md string) error { r.summary = md; return nil }

// Every sink sees the secrets replaced, except Mask, which carries the literal
// value the runner's ::add-mask:: line needs; a too-short value is not a secret.
func TestRedactSink(t *testing.T) {
	inner := &recordSink{}
	s := Redacting(inner, NewSecrets())
	s.Mask(token)
	s.Mask("abc")
	leak := "exit 1: curl -H 'Authorization: Bearer " + token + "'"
	s.Log(leak)
	s.Output("scripts/10.sh", leak)
	s.Partial("scripts/10.sh", leak)
	s.Progress(Progress{Task: "transfer", Text: leak})
	s.StepEnd(StepRecord{Name: "provision", Status: StatusFailed, Detail: leak})
	s.Annotate(Annotation{Title: "provision failed", Message: leak})
	s.State("k", leak)
	regions := []string{"nyc3", token}
	_ = s.Outputs(Outputs{SnapshotName: "snap-" + token, SnapshotRegions: regions})
	_ = s.Summary("| error | " + leak + " |")
	if len(inner.masks) != 1 || inner.masks[0] != token {
		t.Errorf("masks %q: want the literal token only", inner.masks)
	}
	for what, got := range map[string]string{"log": strings.Join(inner.logs, "\n"), "output": strings.Join(inner.outs, "\n"), "progress": inner.progress.Text,
		"detail": inner.rec.Detail, "annotation": inner.ann.Message,
		"state": inner.state, "outputs": inner.out.SnapshotName + strings.Join(inner.out.SnapshotRegions, ","), "summary": inner.summary} {
		if strings.Contains(got, token) || !strings.Contains(got, Redacted) {
			t.Errorf("%s %q: the token is not replaced", what, got)
		}
	}
	if regions[1] != token {
		t.Errorf("the caller's slice was changed: %q", regions)
	}
	if got := s.Secrets.Redact("abc ubuntu-24-04-x64"); got != "abc ubuntu-24-04-x64" {
		t.Errorf("a 3-letter value was redacted: %q", got)
	}
}

// Files (the manifest, the validation report) are redacted field by field.
func TestRedactValue(t *testing.T) {
	s := NewSecrets()
	s.Add(token)
	m := &Manifest{Error: "provision: " + token, Steps: []StepRecord{{Name: "p", Detail: "x " + token}}, Regions: []string{token}}
	s.RedactValue(m)
	if strings.Contains(m.Error+m.Steps[0].Detail+m.Regions[0], token) {
		t.Errorf("manifest still holds the token: %+v", m)
	}
}

// The runner's mask line carries the literal value (it hides the value from
// then on); the same value anywhere else is replaced, however the writes
// split the stream.
func TestRedactorPassesMaskLines(t *testing.T) {
	in := "::add-mask::" + token + "\nuse " + token + "\nx ::add-mask::" + token + "\n::add-mask::" + token
	redactCuts(t, in, "::add-mask::"+token+"\nuse ***\nx ::add-mask::***\n::add-mask::"+token)
}
