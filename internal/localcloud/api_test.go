package localcloud

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/digitalocean/godo"
	"golang.org/x/crypto/ssh"
)

// TestBuildFlow drives every endpoint a Marketplace build uses, in order,
// with the real godo client.
func TestBuildFlow(t *testing.T) {
	ctx := context.Background()
	s, c := startTest(t, nil)

	acct, _, err := c.Account.Get(ctx)
	if err != nil || acct.Status != "active" || acct.DropletLimit != 25 {
		t.Fatalf("account: %+v, %v", acct, err)
	}

	pub := readKey(t, "key1.pub")
	key, _, err := c.Keys.Create(ctx, &godo.KeyCreateRequest{Name: "build", PublicKey: pub})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	pk, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(pub))
	if key.Fingerprint != ssh.FingerprintLegacyMD5(pk) || key.ID == 0 {
		t.Fatalf("key = %+v, want MD5 fingerprint %s", key, ssh.FingerprintLegacyMD5(pk))
	}
	if k, _, err := c.Keys.GetByFingerprint(ctx, key.Fingerprint); err != nil || k.ID != key.ID {
		t.Fatalf("get key by fingerprint: %+v %v", k, err)
	}
	if k, _, err := c.Keys.GetByID(ctx, key.ID); err != nil || k.Name != "build" {
		t.Fatalf("get key by id: %+v %v", k, err)
	}

	d, resp, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{
		Name: "mp-build-1", Region: "fra1", Size: "s-1vcpu-1gb",
		Image:    godo.DropletCreateImage{Slug: "debian-12-x64"},
		SSHKeys:  []godo.DropletCreateSSHKey{{Fingerprint: key.Fingerprint}},
		Tags:     []string{"mp-image", "run:42"},
		UserData: "#cloud-config\nruncmd: [touch /x]\n", Monitoring: true, IPv6: true,
	})
	if err != nil {
		t.Fatalf("create droplet: %v", err)
	}
	if d.Status != "new" || d.Disk != 25 || d.Region.Slug != "fra1" || d.Image.Slug != "debian-12-x64" || len(resp.Links.Actions) != 1 {
		t.Fatalf("created droplet = %+v links %+v", d, resp.Links)
	}
	if resp.Rate.Limit != 5000 || resp.Rate.Remaining >= 5000 {
		t.Fatalf("rate = %+v, want limit 5000 and some used", resp.Rate)
	}
	d = waitStatus(t, c, d.ID, "active")
	ip, err := d.PublicIPv4()
	if err != nil || ip == "" {
		t.Fatalf("public ipv4 of active droplet: %q %v", ip, err)
	}
	if !slices.Contains(d.Features, "monitoring") || !slices.Contains(d.Features, "ipv6") || d.VPCUUID == "" {
		t.Fatalf("features/vpc: %v %q", d.Features, d.VPCUUID)
	}
	if tagged, _, err := c.Droplets.ListByTag(ctx, "run:42", nil); err != nil || len(tagged) != 1 {
		t.Fatalf("list by tag: %d %v", len(tagged), err)
	}

	a, _, err := c.DropletActions.Shutdown(ctx, d.ID)
	if err != nil || a.Status != "in-progress" || a.Type != "shutdown" {
		t.Fatalf("shutdown: %+v %v", a, err)
	}
	if got := waitAction(t, c, a.ID); got.Status != "completed" || got.CompletedAt == nil {
		t.Fatalf("shutdown action = %+v", got)
	}
	waitStatus(t, c, d.ID, "off")

	a, _, err = c.DropletActions.Snapshot(ctx, d.ID, "app-2024")
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if got, _, err := c.DropletActions.Get(ctx, d.ID, a.ID); err != nil || got.ID != a.ID {
		t.Fatalf("droplet action get: %+v %v", got, err)
	}
	if got := waitAction(t, c, a.ID); got.Status != "completed" {
		t.Fatalf("snapshot action = %+v", got)
	}
	snaps, _, err := c.Droplets.Snapshots(ctx, d.ID, nil)
	if err != nil || len(snaps) != 1 || snaps[0].Name != "app-2024" || snaps[0].MinDiskSize != 25 || snaps[0].SizeGigaBytes <= 0 {
		t.Fatalf("droplet snapshots: %+v %v", snaps, err)
	}
	imgID := snaps[0].ID
	if d2, _, _ := c.Droplets.Get(ctx, d.ID); !slices.Contains(d2.SnapshotIDs, imgID) {
		t.Fatalf("snapshot_ids %v lacks %d", d2.SnapshotIDs, imgID)
	}
	im, _, err := c.Images.GetByID(ctx, imgID)
	if err != nil || im.Type != "snapshot" || im.Public || im.Slug != "" || im.Distribution != "Debian" {
		t.Fatalf("image: %+v %v", im, err)
	}
	user, _, err := c.Images.ListUser(ctx, nil)
	if err != nil || len(user) != 1 || user[0].ID != imgID {
		t.Fatalf("private images: %+v %v", user, err)
	}
	dist, _, err := c.Images.ListDistribution(ctx, nil)
	if err != nil || len(dist) == 0 || dist[0].Slug == "" {
		t.Fatalf("distribution images: %+v %v", dist, err)
	}
	if up, _, err := c.Images.Update(ctx, imgID, &godo.ImageUpdateRequest{Name: "renamed", Description: "v1"}); err != nil || up.Name != "renamed" || up.Description != "v1" {
		t.Fatalf("update image: %+v %v", up, err)
	}
	sn, _, err := c.Snapshots.Get(ctx, strconv.Itoa(imgID))
	if err != nil || sn.ID != strconv.Itoa(imgID) || sn.ResourceID != strconv.Itoa(d.ID) || sn.ResourceType != "droplet" {
		t.Fatalf("snapshot get: %+v %v", sn, err)
	}
	if all, _, err := c.Snapshots.ListDroplet(ctx, nil); err != nil || len(all) != 1 {
		t.Fatalf("snapshots list: %+v %v", all, err)
	}

	ta, _, err := c.ImageActions.Transfer(ctx, imgID, &godo.ActionRequest{"type": "transfer", "region": "nyc3"})
	if err != nil || ta.Type != "transfer" {
		t.Fatalf("transfer: %+v %v", ta, err)
	}
	eventually(t, "transfer", func() bool {
		got, _, err := c.ImageActions.Get(ctx, imgID, ta.ID)
		return err == nil && got.Status == "completed"
	})
	if im, _, _ := c.Images.GetByID(ctx, imgID); !slices.Equal(im.Regions, []string{"fra1", "nyc3"}) {
		t.Fatalf("regions after transfer = %v", im.Regions)
	}

	// A droplet from the snapshot: too small a disk is refused, a big enough one boots.
	_, _, err = c.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "tiny", Region: "nyc3", Size: "s-1vcpu-512mb-10gb", Image: godo.DropletCreateImage{ID: imgID}})
	assertAPIError(t, err, http.StatusUnprocessableEntity, "unprocessable_entity")
	d3, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "from-snap", Region: "nyc3", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{ID: imgID}, Tags: []string{"mp-image"}})
	if err != nil {
		t.Fatalf("create from snapshot: %v", err)
	}
	waitStatus(t, c, d3.ID, "active")

	if _, _, err := c.Tags.Create(ctx, &godo.TagCreateRequest{Name: "submitted"}); err != nil {
		t.Fatalf("create tag: %v", err)
	}
	if _, err := c.Tags.TagResources(ctx, "submitted", &godo.TagResourcesRequest{Resources: []godo.Resource{{ID: strconv.Itoa(imgID), Type: godo.ImageResourceType}}}); err != nil {
		t.Fatalf("tag image: %v", err)
	}
	if byTag, _, err := c.Images.ListByTag(ctx, "submitted", nil); err != nil || len(byTag) != 1 {
		t.Fatalf("images by tag: %+v %v", byTag, err)
	}

	if _, err := c.Droplets.DeleteByTag(ctx, "mp-image"); err != nil {
		t.Fatalf("delete by tag: %v", err)
	}
	if _, _, err := c.Droplets.Get(ctx, d.ID); err == nil {
		t.Fatal("droplet still readable after delete by tag")
	}
	for _, r := range s.Ledger().All() {
		if r.Kind == KindKey && r.ID == strconv.Itoa(key.ID) && r.Fingerprint != key.Fingerprint {
			t.Errorf("ledger fingerprint of key %d = %q, want %q", key.ID, r.Fingerprint, key.Fingerprint)
		}
	}
	// Tests look for a droplet's user_data where it must never be, after the droplet is gone.
	if ud, ok := s.UserData(d.ID); !ok || ud != "#cloud-config\nruncmd: [touch /x]\n" {
		t.Errorf("UserData(%d) = %q, %v: want the create request's user_data, kept after delete", d.ID, ud, ok)
	}
	if _, err := c.Images.Delete(ctx, imgID); err != nil {
		t.Fatalf("delete image: %v", err)
	}
	if _, err := c.Keys.DeleteByFingerprint(ctx, key.Fingerprint); err != nil {
		t.Fatalf("delete key: %v", err)
	}
	for _, kind := range []string{KindDroplet, KindSnapshot, KindKey} {
		if live := s.Ledger().Live(kind); len(live) != 0 {
			t.Errorf("ledger: live %s after cleanup: %+v", kind, live)
		}
	}
	if n := s.Ledger().Count(KindDroplet); n != 2 {
		t.Errorf("ledger: %d droplets ever created, want 2", n)
	}
	if n := s.Ledger().Count(KindTag); n != 3 {
		t.Errorf("ledger: %d tags ever created, want 3 (mp-image, run:42, submitted)", n)
	}
}

func assertAPIError(t *testing.T, err error, status int, id string) {
	t.Helper()
	var er *godo.ErrorResponse
	if !errors.As(err, &er) {
		t.Fatalf("error = %v, want an API error %d %s", err, status, id)
	}
	if er.Response.StatusCode != status {
		t.Fatalf("status = %d (%s), want %d", er.Response.StatusCode, er.Message, status)
	}
}

func TestCatalog(t *testing.T) {
	ctx := context.Background()
	_, c := startTest(t, nil)
	sizes, _, err := c.Sizes.List(ctx, &godo.ListOptions{PerPage: 200})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"s-1vcpu-512mb-10gb": 10, "s-1vcpu-1gb": 25, "s-1vcpu-2gb": 50, "s-2vcpu-2gb": 60, "s-2vcpu-4gb": 80}
	for _, sz := range sizes {
		if disk, ok := want[sz.Slug]; ok {
			if sz.Disk != disk || sz.PriceMonthly <= 0 || len(sz.Regions) == 0 || !sz.Available {
				t.Errorf("size %s = %+v", sz.Slug, sz)
			}
			delete(want, sz.Slug)
		}
	}
	if len(want) != 0 {
		t.Errorf("sizes missing: %v", want)
	}
	regions, _, err := c.Regions.List(ctx, &godo.ListOptions{PerPage: 200})
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, r := range regions {
		slugs = append(slugs, r.Slug)
	}
	for _, w := range []string{"nyc1", "nyc3", "sfo3", "ams3", "sgp1", "lon1", "fra1", "tor1", "blr1", "syd1"} {
		if !slices.Contains(slugs, w) {
			t.Errorf("region %s missing from %v", w, slugs)
		}
	}
	im, _, err := c.Images.GetBySlug(ctx, "debian-12-x64")
	if err != nil || im.Distribution != "Debian" || !im.Public || im.Type != "base" {
		t.Fatalf("debian image: %+v %v", im, err)
	}
}

func TestCreateMultipleAndTeams(t *testing.T) {
	ctx := context.Background()
	s, c := startTest(t, nil)
	ds, _, err := c.Droplets.CreateMultiple(ctx, &godo.DropletMultiCreateRequest{Names: []string{"a", "b", "c"}, Region: "ams3", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}})
	if err != nil || len(ds) != 3 {
		t.Fatalf("create multiple: %d %v", len(ds), err)
	}
	other := client(t, s.URL(), "test-token-team1")
	if list, _, err := other.Droplets.List(ctx, nil); err != nil || len(list) != 0 {
		t.Fatalf("other team sees %d droplets (%v), want 0", len(list), err)
	}
	_, _, err = other.Droplets.Get(ctx, ds[0].ID)
	assertAPIError(t, err, http.StatusNotFound, "not_found")
}
