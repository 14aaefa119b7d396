// Command table reads `go test -bench` output (issue 9's benchmarks) on
// stdin and prints one table: figure, measured, target, verdict.
// scripts/bench runs it; it exits 0 whether targets are met or not (the
// table says), and 2 when stdin holds no benchmark result at all.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Results maps a benchmark name (without the -GOMAXPROCS suffix and the
// "Benchmark" prefix) to its metrics by unit.
type Results map[string]map[string]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads benchmark result lines; anything else (logs, PASS, ok) is skipped.
func Parse(r io.Reader) (Results, error) {
	res := Results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := strings.TrimPrefix(procSuffix.ReplaceAllString(f[0], ""), "Benchmark")
		m := map[string]float64{}
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			m[f[i+1]] = v
		}
		if ok {
			res[name] = m
		}
	}
	return res, sc.Err()
}

// Row is one line of the table. A row with no Op is informational.
type Row struct {
	Figure      string
	Bench, Unit string
	Format      string  // fmt verb for the value, e.g. "%.2f s"
	Op          string  // "<", "<=", ">=" or "" (no target)
	Target      float64 // compared with Op
	TargetText  string
}

// Rows are issue 9's figures and targets.
var Rows = []Row{
	{"upload: tool / tar over ssh (5,000 small + 200 MB)", "Upload", "tool/tar-ssh", "%.2fx", "<=", 1.15, "<= 1.15x"},
	{"upload: file-by-file SFTP / tool, small files, no latency", "Upload", "sftp-small/tool-small", "%.1fx", ">=", 5, ">= 5x"},
	{"upload: SFTP / tool, small files, with modelled RTT", "Upload", "sftp/tool-small-rtt", "%.1fx", ">=", 5, ">= 5x"},
	{"  modelled round trip for the row above", "Upload", "rtt-ms", "%.0f ms", "", 0, ""},
	{"  upload: tool, all files", "Upload", "tool-s", "%.2f s", "", 0, ""},
	{"  upload: tar over ssh, all files", "Upload", "tar-ssh-s", "%.2f s", "", 0, ""},
	{"  upload: tool, small files", "Upload", "tool-small-s", "%.2f s", "", 0, ""},
	{"  upload: SFTP file by file, small files", "Upload", "sftp-small-s", "%.2f s", "", 0, ""},
	{"peak RSS of mp-image during the 200 MB upload", "Upload", "peak-rss-MB", "%.1f MB", "<", 60, "< 60 MB"},
	{"tool overhead of build_image (hello-first-login)", "Overhead", "overhead-s", "%.2f s", "<", 1.5, "< 1.5 s"},
	{"  build_image wall time on the fast local cloud", "Overhead", "wall-s", "%.1f s", "", 0, ""},
	{"  of which API calls and poll waits", "Overhead", "api-wait-s", "%.1f s", "", 0, ""},
	{"  of which remote operations (SSH)", "Overhead", "remote-s", "%.1f s", "", 0, ""},
	{"cancellation: SIGTERM to everything deleted, median", "CancelSIGTERM", "median-s", "%.2f s", "<", 2, "< 2 s"},
	{"  cancellation: max", "CancelSIGTERM", "max-s", "%.2f s", "", 0, ""},
	{"  cancellation: points measured", "CancelSIGTERM", "points", "%.0f", "", 0, ""},
	{"static binary size", "BinarySize", "MB", "%.1f MB", "<", 25, "< 25 MB"},
	{"secret scan of the disk / build_image wall time (examples/lemp)", "SecretScan", "scan-pct", "%.1f %%", "<", 10, "< 10 %"},
	{"  secret scan: seconds", "SecretScan", "scan-s", "%.1f s", "", 0, ""},
	{"  secret scan: files searched", "SecretScan", "files", "%.0f", "", 0, ""},
	{"  build_image of examples/lemp, boot test off", "SecretScan", "build-s", "%.0f s", "", 0, ""},
}

// sweepPrefix marks the lines of BenchmarkSnapshotSweep's own table.
const sweepPrefix = "sweep| "

// SweepRows are the figures of every snapshot duration BenchmarkSnapshotSweep
// measured (SnapshotSweep/<duration>), shortest first: issue 15's targets.
func SweepRows(res Results) []Row {
	var durs []time.Duration
	for name := range res {
		if d, ok := strings.CutPrefix(name, "SnapshotSweep/"); ok {
			if v, err := time.ParseDuration(d); err == nil {
				durs = append(durs, v)
			}
		}
	}
	slices.Sort(durs)
	var rows []Row
	for _, d := range durs {
		n, l := "SnapshotSweep/"+d.String(), "snapshot "+d.String()+": "
		rows = append(rows,
			Row{l + "time to the snapshot ID, tool / fixed 3 s poller", n, "to-snapshot-ratio", "%.2fx", "<=", 1, "<= 1.00x"},
			Row{"  tool, seconds to the snapshot ID", n, "tool-to-snapshot-s", "%.1f s", "", 0, ""},
			Row{"  fixed 3 s poller, seconds to the snapshot ID", n, "fixed-to-snapshot-s", "%.1f s", "", 0, ""},
			Row{l + "requests while waiting, tool / fixed 3 s", n, "wait-requests-ratio", "%.2fx", "<=", 0.6, "<= 0.60x"},
			Row{"  API requests of the whole build, tool / fixed 3 s", n, "requests-ratio", "%.2fx", "", 0, ""},
			Row{l + "worst noticing delay / max(2 s, 5% of the wait)", n, "notice/bound", "%.2f", "<=", 1, "<= 1"},
			Row{"  worst noticing delay: tool", n, "tool-worst-notice-s", "%.2f s", "", 0, ""},
			Row{"  worst noticing delay: fixed 3 s poller", n, "fixed-worst-notice-s", "%.2f s", "", 0, ""},
		)
	}
	return rows
}

// SweepLines are the lines of the sweep's own table in the benchmark output.
func SweepLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, sweepPrefix); ok {
			lines = append(lines, rest)
		} else if l == strings.TrimSpace(sweepPrefix) {
			lines = append(lines, "")
		}
	}
	return lines
}

// Format renders the rows against res.
func Format(res Results, rows []Row) string {
	type line struct{ a, b, c, d string }
	lines := []line{{"figure", "measured", "target", "verdict"}}
	for _, r := range rows {
		v, ok := res[r.Bench][r.Unit]
		l := line{a: r.Figure, c: r.TargetText}
		switch {
		case !ok:
			l.b, l.d = "not run", "not run"
			if r.Op == "" {
				l.d = ""
			}
		default:
			l.b = fmt.Sprintf(r.Format, v)
			if r.Op != "" {
				l.d = verdict(v, r.Op, r.Target)
			}
		}
		lines = append(lines, l)
	}
	w := [4]int{}
	for _, l := range lines {
		for i, s := range []string{l.a, l.b, l.c, l.d} {
			w[i] = max(w[i], len([]rune(s)))
		}
	}
	var sb strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", pad(l.a, w[0]), pad(l.b, w[1]), pad(l.c, w[2]), pad(l.d, w[3]))
		if i == 0 {
			fmt.Fprintf(&sb, "|%s|%s|%s|%s|\n", strings.Repeat("-", w[0]+2), strings.Repeat("-", w[1]+2), strings.Repeat("-", w[2]+2), strings.Repeat("-", w[3]+2))
		}
	}
	return sb.String()
}

func pad(s string, n int) string { return s + strings.Repeat(" ", n-len([]rune(s))) }

func verdict(v float64, op string, target float64) string {
	met := false
	switch op {
	case "<":
		met = v < target
	case "<=":
		met = v <= target
	case ">=":
		met = v >= target
	}
	if met {
		return "met"
	}
	return "missed"
}

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading benchmark output:", err)
		os.Exit(1)
	}
	res, err := Parse(bytes.NewReader(data))
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading benchmark output:", err)
		os.Exit(1)
	}
	if len(res) == 0 {
		fmt.Fprintln(os.Stderr, "no benchmark results on stdin")
		os.Exit(2)
	}
	fmt.Print(Format(res, append(slices.Clone(Rows), SweepRows(res)...)))
	if lines := SweepLines(string(data)); len(lines) > 0 {
		fmt.Println()
		fmt.Println(strings.Join(lines, "\n"))
	}
}
