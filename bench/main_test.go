// Package bench holds issue 9's performance benchmarks: they drive the real
// mp-image binary and the tool's SSH client against local-cloud droplets
// (systemd-nspawn machines) and report figures with b.ReportMetric.
// scripts/bench runs them and prints one table with the targets.
//
// Every figure is measured in one run; ratios compare methods run
// interleaved on the same droplet. Nothing here asserts a duration.
package bench

import (
	"flag"
	"os"
	"testing"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
	"github.com/mp-image-action/mp-image-action/internal/testutil/cloudenv"
)

var env struct {
	skip string
	root string
	e    *cloudenv.Env // the fast local cloud (TimeScale 0.01)
	godo *godo.Client
}

func TestMain(m *testing.M) {
	// Without -bench there is nothing to run: do not boot a cloud for it
	// (go test ./... passes through here).
	flag.Parse()
	skip := ""
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		skip = "no -bench given"
	}
	os.Exit(cloudenv.Main(m, skip, localcloud.Options{TimeScale: 0.01}, func(e *cloudenv.Env, skip string) {
		env.root, env.skip = e.Root, skip
		if skip == "" {
			env.e, env.godo = e, testutil.Godo(e.Srv.URL(), e.Token)
		}
	}))
}

// need skips a benchmark that needs droplets, or fails it under MP_REQUIRE_E2E=1.
func need(b *testing.B) {
	b.Helper()
	cloudenv.Need(b, env.skip)
}
