// Package e2e drives the real mp-image binary against one shared local cloud
// whose droplets are real systemd-nspawn machines.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/localcloud/nspawn"
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
	if err := nspawn.Available(); err != nil {
		env.skip = "local droplets cannot run here: " + err.Error()
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "mp-image-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.tmp = tmp
	defer os.RemoveAll(tmp)
	env.bin = filepath.Join(tmp, "mp-image")
	build := exec.Command("go", "build", "-o", env.bin, "./cmd/mp-image")
	build.Dir = env.root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mp-image:", err)
		return 1
	}
	ctx := context.Background()
	backend, err := nspawn.New(ctx, nspawn.Options{Logf: func(f string, a ...any) {
		if os.Getenv("MP_E2E_VERBOSE") != "" {
			fmt.Fprintf(os.Stderr, "nspawn: "+f+"\n", a...)
		}
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nspawn backend:", err)
		return 1
	}
	if err := backend.EnsureBaseImage(ctx, "debian-12-x64"); err != nil {
		fmt.Fprintln(os.Stderr, "base image:", err)
		backend.Close(ctx)
		return 1
	}
	env.token = "e2e-token-" + fmt.Sprint(time.Now().UnixNano())
	env.srv, err = localcloud.Start(ctx, localcloud.Options{Token: env.token, Machines: backend, TimeScale: 0.01,
		VendorApps: []localcloud.VendorApp{{ID: "app-e2e", Name: "e2e", Token: env.token, State: localcloud.AppApproved}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "local cloud:", err)
		backend.Close(ctx)
		return 1
	}
	env.godo, _ = godo.New(nil, godo.SetBaseURL(env.srv.URL()))
	env.godo = godoWithToken(env.srv.URL(), env.token)
	code := m.Run()
	cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := env.srv.Close(cctx); err != nil {
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
