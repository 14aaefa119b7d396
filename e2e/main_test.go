// Package e2e drives the real mp-image binary against one shared local cloud
// whose droplets are real systemd-nspawn machines.
package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/localcloud/nspawn"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
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
	host  string // the host's address on the machines' bridge
	// backend reaches machines through the host, to explain an SSH timeout.
	backend *nspawn.Backend
}

func TestMain(m *testing.M) {
	env.token = "e2e-token-" + fmt.Sprint(time.Now().UnixNano())
	o := localcloud.Options{Token: env.token, TimeScale: 0.01,
		VendorApps: []localcloud.VendorApp{{ID: "app-e2e", Name: "e2e", Token: env.token, State: localcloud.AppApproved},
			{ID: "app-lemp", Name: "LEMP", Token: env.token, State: localcloud.AppApproved}}}
	os.Exit(cloudenv.Main(m, "", o, func(e *cloudenv.Env, skip string) {
		env.root, env.skip = e.Root, skip
		if skip == "" {
			env.srv, env.bin, env.tmp, env.host, env.backend = e.Srv, e.Bin, e.Tmp, e.Backend.HostAddr(), e.Backend
			env.godo = testutil.Godo(env.srv.URL(), env.token)
		}
	}))
}

// need skips a test that needs local droplets, or fails it when the run
// requires them (MP_REQUIRE_E2E=1, as scripts/test and CI set).
func need(t testing.TB) {
	t.Helper()
	cloudenv.Need(t, env.skip)
}
