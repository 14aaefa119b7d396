package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/mp-image-action/mp-image-action/bench
BenchmarkUpload-2   	       1	52000000000 ns/op	         1.100 tool/tar-ssh	         7.20 sftp-small/tool-small	        48.5 peak-rss-MB
--- BENCH: BenchmarkUpload-2
    upload_test.go:10: tree: 5200 files, 230.0 MB
BenchmarkAPIRequests-2 	       1	300000000000 ns/op	        41.00 requests	         0.800 median-notice-s
BenchmarkBinarySize    	       1	 9000000000 ns/op	        14.2 MB
PASS
ok  	github.com/mp-image-action/mp-image-action/bench	400.1s
`

func TestParse(t *testing.T) {
	res, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("parsed %d benchmarks, want 3: %v", len(res), res)
	}
	if v := res["Upload"]["tool/tar-ssh"]; v != 1.1 {
		t.Errorf("Upload tool/tar-ssh = %v", v)
	}
	if v := res["APIRequests"]["requests"]; v != 41 {
		t.Errorf("APIRequests requests = %v", v)
	}
	if v := res["BinarySize"]["MB"]; v != 14.2 {
		t.Errorf("BinarySize MB = %v (a name without -N suffix)", v)
	}
	if v := res["Upload"]["ns/op"]; v != 52e9 {
		t.Errorf("ns/op = %v", v)
	}
}

func TestFormatVerdicts(t *testing.T) {
	res, _ := Parse(strings.NewReader(sample))
	out := Format(res, Rows)
	row := func(prefix string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "| "+prefix) {
				return l
			}
		}
		t.Fatalf("no row %q in\n%s", prefix, out)
		return ""
	}
	cases := []struct{ row, measured, verdict string }{
		{"upload: tool / tar over ssh", "1.10x", "met"}, // 1.10 <= 1.15
		{"upload: file-by-file SFTP / tool, small files, no", "7.2x", "met"},
		{"upload: SFTP / tool, small files, with", "not run", "not run"}, // 7.2 >= 5
		{"peak RSS", "48.5 MB", "met"},                                   // < 60
		{"API requests", "41", "missed"},                                 // 41 > 40
		{"median delay noticing", "0.80 s", "met"},                       // < 2
		{"cancellation: SIGTERM", "not run", "not run"},                  // absent
		{"static binary size", "14.2 MB", "met"},                         // < 25
		{"tool overhead", "not run", "not run"},                          // absent
	}
	for _, c := range cases {
		l := row(c.row)
		cells := strings.Split(l, "|")
		if len(cells) != 6 {
			t.Fatalf("row %q has %d cells: %q", c.row, len(cells), l)
		}
		if got := strings.TrimSpace(cells[2]); got != c.measured {
			t.Errorf("%s: measured %q, want %q", c.row, got, c.measured)
		}
		if got := strings.TrimSpace(cells[4]); got != c.verdict {
			t.Errorf("%s: verdict %q, want %q", c.row, got, c.verdict)
		}
	}
	// Every line has the same width: one table.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		if len([]rune(l)) != len([]rune(lines[0])) {
			t.Errorf("ragged line %q", l)
		}
	}
	if !strings.Contains(lines[0], "figure") || !strings.Contains(lines[0], "verdict") {
		t.Errorf("header %q", lines[0])
	}
}

func TestVerdictBoundaries(t *testing.T) {
	for _, c := range []struct {
		v      float64
		op     string
		target float64
		want   string
	}{{1.15, "<=", 1.15, "met"}, {1.16, "<=", 1.15, "missed"}, {2, "<", 2, "missed"}, {5, ">=", 5, "met"}, {4.9, ">=", 5, "missed"}} {
		if got := verdict(c.v, c.op, c.target); got != c.want {
			t.Errorf("verdict(%v %s %v) = %s, want %s", c.v, c.op, c.target, got, c.want)
		}
	}
}
