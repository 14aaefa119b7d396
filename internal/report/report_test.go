package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeClock advances only when told, so console lines are exact.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 850 * time.Millisecond: "850ms", 12300 * time.Millisecond: "12.3s",
		4*time.Minute + 5*time.Second: "4m05s", time.Hour + 2*time.Minute + 20*time.Second: "1h02m",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDotenv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "build.env")
	d := NewDotenv(path)
	if err := d.Outputs(Outputs{SnapshotID: "1234", SnapshotName: "app 2025", SnapshotRegions: []string{"nyc3", "sfo3"}, Validation: "warn"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "SNAPSHOT_ID=1234\nSNAPSHOT_NAME=app 2025\nSNAPSHOT_REGIONS=nyc3,sfo3\nDROPLET_ID=\nDROPLET_IP=\nVALIDATION=warn\nREPORT=\nMANIFEST=\nSSH_KEY_PATH=\nSBOM=\nPROVENANCE=\n"
	if string(got) != want {
		t.Errorf("dotenv:\n%s\nwant:\n%s", got, want)
	}
	if err := d.Outputs(Outputs{SnapshotName: "a\nINJECTED=1"}); err == nil {
		t.Error("a newline in a dotenv value was accepted")
	}
}

func TestManifestRoundTrip(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	m := &Manifest{SnapshotID: 1234, SnapshotName: "lemp", Regions: []string{"nyc3"}, DropletID: 42, Validation: "pass",
		RunID: "ab12", Image: "debian-12-x64", Steps: []StepRecord{{Name: "provision", Status: StatusOK, Duration: 3 * time.Second}},
		APIRequests: 17, Started: start, Finished: start.Add(time.Minute)}
	path := filepath.Join(t.TempDir(), "sub", "manifest.json")
	if err := WriteManifest(path, m); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"snapshot_id", "snapshot_name", "regions", "droplet_id", "validation", "run_id", "steps", "api_requests", "started", "finished"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("manifest lacks %q:\n%s", k, data)
		}
	}
	for k := range raw {
		if strings.Contains(k, "token") || strings.Contains(k, "key") {
			t.Errorf("manifest has a secret-looking field %q", k)
		}
	}
	back, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.SnapshotID != 1234 || back.Steps[0].Duration != 3*time.Second || !back.Finished.Equal(m.Finished) {
		t.Errorf("round trip: %+v", back)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteManifest(filepath.Join(path, "x"), m); err == nil {
		t.Error("writing under a file succeeded")
	}
}

func TestBuildSummary(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	md := BuildSummary(&Manifest{Mode: "build_image", SnapshotID: 99, SnapshotName: "lemp-1", Regions: []string{"nyc3", "ams3"},
		DropletID: 7, DropletIP: "10.0.0.2", Validation: "warn", APIRequests: 23, RunID: "r1",
		Steps:   []StepRecord{{Name: "provision", Status: StatusOK, Duration: 2 * time.Second}, {Name: "snap|shot", Status: StatusFailed, Detail: "line1\nline2"}},
		Started: start, Finished: start.Add(90 * time.Second), Error: "snapshot\nfailed"})
	for _, want := range []string{
		"## mp-image build (build_image)",
		"> snapshot failed",
		"| provision | ✅ ok | 2.0s |  |",
		`| snap\|shot | ❌ failed | 0s | line1 line2 |`,
		"| Droplet | 7 (10.0.0.2) |",
		"| Snapshot | `99` lemp-1 |",
		"| Regions | nyc3, ams3 |",
		"| Validation | warn |",
		"| API requests | 23 |",
		"| Total time | 1m30s |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
}

func TestMultiJoinsErrors(t *testing.T) {
	m := Multi{NewDotenv(filepath.Join(t.TempDir(), "f", "..", "..", "nonexistent-dir-file\x00")), NewConsole(new(bytes.Buffer), false, nil)}
	if err := m.Outputs(Outputs{}); err == nil {
		t.Error("a failing sink's error was lost")
	}
}
