package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/pipeline"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

const reapToken = "reap-cli-test-token-3c9a"

// reap reads every page (the page size is lowered to 2 here), applies
// --older-than to keys by the time in their names, and never touches a
// droplet kept on purpose, nor its run's key.
func TestReapPagesAgesAndKept(t *testing.T) {
	ctx := context.Background()
	s, err := localcloud.Start(ctx, localcloud.Options{Token: reapToken, TimeScale: 0.0005})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	g := testutil.Godo(s.URL(), reapToken)
	defer func(n int) { cloud.PerPage = n }(cloud.PerPage)
	cloud.PerPage = 2

	key := func(name string) {
		kp, err := remote.NewKeyPair("t")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := g.Keys.Create(ctx, &godo.KeyCreateRequest{Name: name, PublicKey: kp.AuthorizedKey}); err != nil {
			t.Fatal(err)
		}
	}
	droplet := func(name string, tags ...string) {
		if _, _, err := g.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: name, Region: "nyc3", Size: "s-1vcpu-1gb",
			Image: godo.DropletCreateImage{Slug: "debian-12-x64"}, Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	twoHoursAgo := time.Now().Add(-2 * time.Hour)
	for i := range 5 {
		run := fmt.Sprintf("old%05d", i)
		key(pipeline.KeyName(run, false, twoHoursAgo)) // a killed run's key: old, no droplet
		droplet("mp-image-"+run, pipeline.ToolTag, pipeline.RunTagPrefix+run)
	}
	key(pipeline.KeyName("young001", false, time.Now())) // a build starting right now
	key(pipeline.KeyName("kept0001", false, twoHoursAgo))
	droplet("mp-image-kept0001", pipeline.ToolTag, pipeline.RunTagPrefix+"kept0001", pipeline.KeptTag)
	key("someone-elses-key")

	env := func(k string) string {
		return map[string]string{"DIGITALOCEAN_TOKEN": reapToken, "DIGITALOCEAN_API_URL": s.URL()}[k]
	}
	reap := func(args ...string) string {
		var out, errOut bytes.Buffer
		if code := runReap(ctx, args, env, &out, &errOut); code != 0 {
			t.Fatalf("reap %v exited %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	// The droplets were made just now: --older-than 1h spares them and the
	// keys of their runs (in use), the key made now, the kept droplet's.
	out := reap("--older-than", "1h")
	if strings.Contains(out, "droplet ") || strings.Contains(out, "young001") || strings.Contains(out, "kept0001") || strings.Contains(out, "someone") {
		t.Errorf("reap --older-than 1h lists what it must spare:\n%s", out)
	}
	// Everything counts as old now: every page of droplets and keys, but
	// never the kept droplet, its run's key, or a key that is not ours.
	out = reap("--older-than", "0s", "--yes")
	for i := range 5 {
		run := fmt.Sprintf("old%05d", i)
		if !strings.Contains(out, "mp-image-"+run) || !strings.Contains(out, pipeline.KeyName(run, false, twoHoursAgo)) {
			t.Errorf("reap missed run %s (paging?):\n%s", run, out)
		}
	}
	if strings.Contains(out, "kept0001") || strings.Contains(out, "someone") {
		t.Errorf("reap deleted what it must never touch:\n%s", out)
	}
	live := map[string]bool{}
	for _, r := range append(s.Ledger().Live(localcloud.KindDroplet), s.Ledger().Live(localcloud.KindKey)...) {
		live[r.Name] = true
	}
	if len(live) != 3 || !live["mp-image-kept0001"] || !live["someone-elses-key"] || !live[pipeline.KeyName("kept0001", false, twoHoursAgo)] {
		t.Errorf("left after reap --yes: %v; want the kept droplet, its key and someone else's key", live)
	}
}

// reap's default tag is the one every resource of the tool carries.
func TestReapDefaultTag(t *testing.T) {
	opts, _ := config.CommandOptions("reap")
	for _, o := range opts {
		if o.Name == "tag" && o.Default != pipeline.ToolTag {
			t.Errorf("reap --tag defaults to %q, the tool tags with %q", o.Default, pipeline.ToolTag)
		}
	}
}
