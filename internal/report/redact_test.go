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
	in := "before " + token + " after\n"
	for cut := 0; cut <= len(in); cut++ {
		for cut2 := cut; cut2 <= len(in); cut2 += 7 {
			var out bytes.Buffer
			r := NewRedactor(&out)
			r.Add(token)
			r.Write([]byte(in[:cut]))
			r.Write([]byte(in[cut:cut2]))
			r.Write([]byte(in[cut2:]))
			r.Flush()
			if out.String() != "before *** after\n" {
				t.Fatalf("cuts %d,%d: got %q", cut, cut2, out.String())
			}
		}
	}
}

// Output that cannot start a secret goes through at once, not at Flush.
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
