package cloud

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// TagImage spends one request on a tag that exists (the run tag, which the
// droplet's create made) and creates only a tag that does not: the pending
// mark and its release cost one request each in a build.
func TestTagImageCreatesOnlyMissingTags(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := localcloud.Start(ctx, localcloud.Options{Token: "tok", TimeScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	c, err := New(Options{Token: "tok", APIURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	const runTag = "mp-image-run-tagtest"
	d, err := c.CreateDroplet(ctx, &godo.DropletCreateRequest{Name: "tagtest", Region: "nyc3", Size: "s-1vcpu-1gb",
		Image: godo.DropletCreateImage{Slug: "debian-12-x64"}, Tags: []string{runTag}}, runTag)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitActive(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	img, err := c.Snapshot(ctx, d.ID, "tagtest-snap", 0)
	if err != nil {
		t.Fatal(err)
	}
	st0 := srv.Stats()
	if err := c.TagImage(ctx, img.ID, []string{runTag, "vendor-fresh"}); err != nil {
		t.Fatal(err)
	}
	st1 := srv.Stats()
	delta := func(route string) int { return st1.Requests[route] - st0.Requests[route] }
	if n := delta("POST /v2/tags"); n != 1 {
		t.Errorf("POST /v2/tags sent %d times, want 1 (only the missing tag)", n)
	}
	if n := delta("POST /v2/tags/{name}/resources"); n != 3 {
		t.Errorf("tagging sent %d times, want 3 (run tag once; the missing tag refused, then tagged)", n)
	}
	got, err := c.Image(ctx, fmt.Sprint(img.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{runTag, "vendor-fresh"} {
		if !slices.Contains(got.Tags, want) {
			t.Errorf("snapshot tags %v lack %s", got.Tags, want)
		}
	}
	if err := c.UntagImage(ctx, img.ID, runTag); err != nil {
		t.Fatal(err)
	}
	if got, err = c.Image(ctx, fmt.Sprint(img.ID)); err != nil || slices.Contains(got.Tags, runTag) {
		t.Errorf("after UntagImage: tags %v, err %v; want no %s", got.Tags, err, runTag)
	}
}
