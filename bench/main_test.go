// Package bench holds issue 9's performance benchmarks: they drive the real
// mp-image binary and the tool's SSH client against local-cloud droplets
// (systemd-nspawn machines) and report figures with b.ReportMetric.
// scripts/bench runs them and prints one table with the targets.
//
// Every figure is measured in one run; ratios compare methods run
// interleaved on the same droplet. Nothing here asserts a duration.
package bench

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/testutil/cloudenv"
)

var env struct {
	skip string
	root string
	e    *cloudenv.Env // the fast local cloud (TimeScale 0.01)
	godo *godo.Client
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	env.root = filepath.Dir(filepath.Dir(file))
	// Without -bench there is nothing to run: do not boot a cloud for it
	// (go test ./... passes through here).
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		env.skip = "no -bench given"
		return m.Run()
	}
	if err := cloudenv.Unavailable(); err != nil {
		env.skip = "local droplets cannot run here: " + err.Error()
		return m.Run()
	}
	e, err := cloudenv.Start(context.Background(), env.root, localcloud.Options{TimeScale: 0.01}, os.Getenv("MP_E2E_VERBOSE") != "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.e = e
	env.godo = godoClient(e.Srv.URL(), e.Token)
	code := m.Run()
	if err := e.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "closing the local cloud:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// need skips a benchmark that needs droplets, or fails it under MP_REQUIRE_E2E=1.
func need(b *testing.B) {
	b.Helper()
	if env.skip == "" {
		return
	}
	if os.Getenv("MP_REQUIRE_E2E") == "1" {
		b.Fatalf("benchmark required but %s", env.skip)
	}
	b.Skip(env.skip)
}

type bearer struct{ token string }

func (t bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return http.DefaultTransport.RoundTrip(r)
}

func godoClient(url, token string) *godo.Client {
	c, err := godo.New(&http.Client{Transport: bearer{token}}, godo.SetBaseURL(url))
	if err != nil {
		panic(err)
	}
	return c
}
