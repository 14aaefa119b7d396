// Package e2e drives the real mp-image binary against one shared local cloud
// whose droplets are real systemd-nspawn machines.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/testutil/cloudenv"
)

// env is shared by every test of the package: one emulator, one machine
// backend, one built binary.
var env struct {
	skip  string // why the package cannot run here
	srv   *localcloud.Server
	token string
	bin   string
	root  string // repository root
	godo  *godo.Client
	tmp   string
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	env.root = filepath.Dir(filepath.Dir(file))
	if err := cloudenv.Unavailable(); err != nil {
		env.skip = "local droplets cannot run here: " + err.Error()
		return m.Run()
	}
	ctx := context.Background()
	env.token = "e2e-token-" + fmt.Sprint(time.Now().UnixNano())
	e, err := cloudenv.Start(ctx, env.root, localcloud.Options{Token: env.token, TimeScale: 0.01,
		VendorApps: []localcloud.VendorApp{{ID: "app-e2e", Name: "e2e", Token: env.token, State: localcloud.AppApproved}}},
		os.Getenv("MP_E2E_VERBOSE") != "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.srv, env.bin, env.tmp = e.Srv, e.Bin, e.Tmp
	env.godo, _ = godo.New(nil, godo.SetBaseURL(env.srv.URL()))
	env.godo = godoWithToken(env.srv.URL(), env.token)
	code := m.Run()
	if err := e.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "closing the local cloud:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// need skips a test that needs local droplets, or fails it when the run
// requires them (MP_REQUIRE_E2E=1, as scripts/test and CI set).
func need(t *testing.T) {
	t.Helper()
	if env.skip == "" {
		return
	}
	if os.Getenv("MP_REQUIRE_E2E") == "1" {
		t.Fatalf("end-to-end test required but %s", env.skip)
	}
	t.Skip(env.skip)
}
