package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
)

// scanDetail is the first detail line of the build-secrets result.
var scanDetail = regexp.MustCompile(`^searched (\d+) files for .* in ([0-9.]+) s$`)

// BenchmarkSecretScan runs build_image of examples/lemp (boot test off) on
// the fast local cloud and reports what the secret scan of the disk cost in
// it, as the validation report states it (files searched, seconds, measured
// around the remote command), against the whole build's wall time.
func BenchmarkSecretScan(b *testing.B) {
	need(b)
	var scan, wall, files []float64
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		manifest, reportPath := filepath.Join(dir, "manifest.json"), filepath.Join(dir, "report.json")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		start := time.Now()
		so, se, _, err := runTool(b, ctx, "build", "--dir", "examples/lemp", "--application-version", "1.0",
			"--api-url", env.e.Srv.URL(), "--token", env.e.Token, "--image", "debian-12-x64", "--secure-erase=false",
			"--boot-test=false", "--manifest", manifest, "--report", reportPath)
		w := time.Since(start).Seconds()
		cancel()
		if err != nil {
			b.Fatalf("build_image of examples/lemp: %v\nstdout:\n%s\nstderr:\n%s", err, tail(so, 60), tail(se, 20))
		}
		if m := readManifest(b, manifest); m.SnapshotID == 0 {
			b.Fatalf("no snapshot: %+v", m)
		}
		raw, err := os.ReadFile(reportPath)
		if err != nil {
			b.Fatal(err)
		}
		var rep imagecheck.Report
		if err := json.Unmarshal(raw, &rep); err != nil {
			b.Fatal(err)
		}
		var found bool
		for _, x := range rep.Results {
			if x.ID != imagecheck.SecretsID || len(x.Details) == 0 {
				continue
			}
			m := scanDetail.FindStringSubmatch(x.Details[0])
			if m == nil {
				b.Fatalf("build-secrets detail %q", x.Details[0])
			}
			n, _ := strconv.Atoi(m[1])
			s, _ := strconv.ParseFloat(m[2], 64)
			files, scan, found = append(files, float64(n)), append(scan, s), true
		}
		if !found {
			b.Fatalf("the report has no %s result:\n%s", imagecheck.SecretsID, raw)
		}
		wall = append(wall, w)
	}
	b.ReportMetric(median(scan), "scan-s")
	b.ReportMetric(median(wall), "build-s")
	b.ReportMetric(100*median(scan)/median(wall), "scan-pct")
	b.ReportMetric(median(files), "files")
}
