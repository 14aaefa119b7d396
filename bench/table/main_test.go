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
sweep| Snapshot sweep: one run
sweep|
sweep| snapshot 20s    tool   fixed 3 s
BenchmarkSnapshotSweep/20s-2 	       1	         1.000 ns/op	        0.980 to-snapshot-ratio	        0.700 wait-requests-ratio	        0.400 notice/bound
BenchmarkSnapshotSweep/10m0s-2 	       1	         1.000 ns/op	        1.010 to-snapshot-ratio	        0.450 wait-requests-ratio	        0.800 notice/bound
BenchmarkBinarySize    	       1	 9000000000 ns/op	        14.2 MB
PASS
ok  	github.com/mp-image-action/mp-image-action/bench	400.1s
`

func TestParse(t *testing.T) {
	res, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("parsed %d benchmarks, want 4: %v", len(res), res)
	}
	if v := res["Upload"]["tool/tar-ssh"]; v != 1.1 {
		t.Errorf("Upload tool/tar-ssh = %v", v)
	}
	if v := res["SnapshotSweep/20s"]["wait-requests-ratio"]; v != 0.7 {
		t.Errorf("SnapshotSweep/20s wait-requests-ratio = %v", v)
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
	out := Format(res, append(Rows, SweepRows(res)...))
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
		{"snapshot 20s: time to the snapshot ID", "0.98x", "met"},        // <= 1
		{"snapshot 20s: requests while waiting", "0.70x", "missed"},      // > 0.6
		{"snapshot 10m0s: time to the snapshot ID", "1.01x", "missed"},   // > 1
		{"snapshot 10m0s: requests while waiting", "0.45x", "met"},       // <= 0.6
		{"snapshot 10m0s: worst noticing delay", "0.80", "met"},          // <= 1
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

// TestSweepRowsAndLines: the sweep's rows come shortest duration first, and
// its own table is printed as the benchmark wrote it, without the prefix.
func TestSweepRowsAndLines(t *testing.T) {
	res, _ := Parse(strings.NewReader(sample))
	rows := SweepRows(res)
	if len(rows) == 0 || !strings.HasPrefix(rows[0].Figure, "snapshot 20s:") || !strings.HasPrefix(rows[len(rows)/2].Figure, "snapshot 10m0s:") {
		t.Fatalf("rows out of order: %+v", rows)
	}
	got := strings.Join(SweepLines(sample), "\n")
	if want := "Snapshot sweep: one run\n\nsnapshot 20s    tool   fixed 3 s"; got != want {
		t.Errorf("sweep lines %q, want %q", got, want)
	}
}
