package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// TestPluginDotenvAndSubmit runs build_image configured only through
// Woodpecker/Drone PLUGIN_* settings, writes the GitLab dotenv file, and
// submits the snapshot to the (emulated) Vendor Portal.
func TestPluginDotenvAndSubmit(t *testing.T) {
	need(t)
	dotenv := filepath.Join(t.TempDir(), "build.env")
	r := runBin(t, map[string]string{
		"CI": "woodpecker", "PLUGIN_TOKEN": env.token, "PLUGIN_API_URL": env.srv.URL(),
		"PLUGIN_DIR": "examples/hello-first-login", "PLUGIN_VENDOR": "hello", "PLUGIN_IMAGE": "debian-12-x64",
		"PLUGIN_SECURE_ERASE": "false", "PLUGIN_BOOT_TEST": "false", "PLUGIN_DOTENV": dotenv,
		"PLUGIN_SNAPSHOT_NAME": "plugin-{{run_id}}",
		"PLUGIN_SUBMIT_APP_ID": "app-e2e", "PLUGIN_SUBMIT_VERSION": "2.0", "PLUGIN_SUBMIT_REASON": "e2e",
	}, "build")
	if r.code != 0 {
		t.Fatalf("build exited %d", r.code)
	}
	data, err := os.ReadFile(dotenv)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = strings.Trim(v, `"'`)
		}
	}
	snap := atoi(vars["SNAPSHOT_ID"])
	if snap == 0 || !strings.HasPrefix(vars["SNAPSHOT_NAME"], "plugin-") {
		t.Fatalf("dotenv:\n%s", data)
	}
	if !strings.Contains(r.stdout, "snapshot-id="+vars["SNAPSHOT_ID"]) {
		t.Errorf("stdout and dotenv disagree on the snapshot:\n%s", tail(r.stdout, 10))
	}
	app, ok := env.srv.VendorApp("app-e2e")
	if !ok || app.ImageID != snap || app.Version != "2.0" || app.State != localcloud.AppInReview {
		t.Fatalf("vendor app after submit: %+v", app)
	}
	if strings.Contains(r.stdout+r.stderr+string(data), env.token) {
		t.Fatal("the token leaked")
	}
	requireNothingLeft(t)
	env.godo.Images.Delete(t.Context(), snap)
}
