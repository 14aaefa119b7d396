package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/testutil/cloudenv"
)

// BenchmarkOverhead runs build_image of examples/hello-first-login (boot
// test off) on the fast local cloud and reports the manifest's timing
// block: the tool's own time is the wall time minus the union of the
// intervals spent in API requests and poll waits and in remote operations
// (SSH dials, commands, uploads), as the tool recorded them. The wall time
// is the process's, measured here (start-up and exit included); the
// manifest's own figure, which starts when the build does, is reported too.
func BenchmarkOverhead(b *testing.B) {
	need(b)
	var over, inManifest, wall, api, rem []float64
	for i := 0; i < b.N; i++ {
		manifest := filepath.Join(b.TempDir(), "manifest.json")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		start := time.Now()
		so, se, _, err := runTool(b, ctx, "build", "--dir", "examples/hello-first-login", "--vendor", "hello",
			"--api-url", env.e.Srv.URL(), "--token", env.e.Token, "--image", "debian-12-x64", "--secure-erase=false",
			"--boot-test=false", "--manifest", manifest)
		procWall := time.Since(start).Seconds()
		cancel()
		if err != nil {
			b.Fatalf("build_image: %v\nstdout:\n%s\nstderr:\n%s", err, tail(so, 60), tail(se, 20))
		}
		m := readManifest(b, manifest)
		if m.SnapshotID == 0 || m.Timing == nil {
			b.Fatalf("manifest without snapshot or timing: %+v", m)
		}
		if n := len(env.e.Srv.Ledger().Live(localcloud.KindDroplet)); n != 0 {
			b.Fatalf("%d droplets left behind", n)
		}
		busy := m.Timing.Wall - m.Timing.Overhead // the union of API and remote time
		over = append(over, procWall-busy)
		inManifest = append(inManifest, m.Timing.Overhead)
		wall = append(wall, procWall)
		api = append(api, m.Timing.APIWait)
		rem = append(rem, m.Timing.Remote)
	}
	b.ReportMetric(median(over), "overhead-s")
	b.ReportMetric(median(inManifest), "manifest-overhead-s")
	b.ReportMetric(median(wall), "wall-s")
	b.ReportMetric(median(api), "api-wait-s")
	b.ReportMetric(median(rem), "remote-s")
}

// BenchmarkBinarySize builds the static binary as the Dockerfile does and
// reports its size.
func BenchmarkBinarySize(b *testing.B) {
	out := filepath.Join(b.TempDir(), "mp-image")
	var size int64
	for i := 0; i < b.N; i++ {
		if err := cloudenv.Build(env.root, out, []string{"CGO_ENABLED=0"}, "-trimpath", "-ldflags", "-s -w"); err != nil {
			b.Fatal(err)
		}
		st, err := os.Stat(out)
		if err != nil {
			b.Fatal(err)
		}
		size = st.Size()
	}
	b.ReportMetric(float64(size)/(1<<20), "MB")
}
