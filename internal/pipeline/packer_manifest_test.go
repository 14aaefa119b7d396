package pipeline

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// The manifest post-processor's file has Packer's shape: builds appended,
// artifact_id "regions:id", last_run_uuid naming the new build, files null,
// custom_data as given, build_time unless strip_time.
func TestPackerManifestFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "packer-manifest.json")
	b := &Build{Cfg: &config.Config{}, Out: report.NewConsole(io.Discard, false, nil), Logf: t.Logf,
		Plan:     &recipe.Plan{Manifest: path, Builder: recipe.Builder{Name: "app"}, ManifestCustomData: map[string]string{"v": "1"}},
		Snapshot: &godo.Image{ID: 42}, Regions: []string{"nyc3", "sfo3"}}
	for i := 0; i < 2; i++ {
		if err := (packerManifest{}).Run(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Builds []map[string]any `json:"builds"`
		Last   string           `json:"last_run_uuid"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Builds) != 2 {
		t.Fatalf("%d builds, want 2 (Packer appends):\n%s", len(m.Builds), data)
	}
	last := m.Builds[1]
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if last["artifact_id"] != "nyc3,sfo3:42" || last["builder_type"] != "digitalocean" || last["name"] != "app" ||
		last["packer_run_uuid"] != m.Last || !uuid.MatchString(m.Last) || m.Builds[0]["packer_run_uuid"] == m.Last {
		t.Errorf("build %v, last_run_uuid %q", last, m.Last)
	}
	if f, ok := last["files"]; !ok || f != nil {
		t.Errorf("files = %v, want null", f)
	}
	if cd, _ := last["custom_data"].(map[string]any); cd["v"] != "1" {
		t.Errorf("custom_data %v", last["custom_data"])
	}
	if bt, _ := last["build_time"].(float64); bt < 1e9 {
		t.Errorf("build_time %v", last["build_time"])
	}
}
