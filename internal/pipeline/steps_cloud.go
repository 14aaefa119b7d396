package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

type nothingToUndo struct{}

func (nothingToUndo) Cleanup(context.Context, *Build) error { return nil }

// usesDroplet is false for --host builds of an existing server.
func usesDroplet(b *Build) bool { return b.Cfg.Host == "" }

type preflight struct{ nothingToUndo }

func (preflight) String() string     { return "check token, region, size and image" }
func (preflight) Skip(b *Build) bool { return b.Cloud == nil }
func (preflight) Run(ctx context.Context, b *Build) error {
	if _, err := b.Cloud.CheckAccount(ctx); err != nil {
		return err
	}
	if !usesDroplet(b) {
		return nil
	}
	img, size, err := b.Cloud.CheckPlacement(ctx, b.Cfg.Region, b.Cfg.Size, b.Cfg.Image, b.Cfg.SnapshotRegions)
	if err != nil {
		return err
	}
	b.MinDisk = img.MinDiskSize
	if size.Disk > smallestDisk && b.Cfg.Mode == config.ModeBuildImage {
		b.Out.Annotate(warning("size", fmt.Sprintf("size %s has a %d GB disk: the snapshot will only run on plans with at least %d GB; use s-1vcpu-1gb (25 GB) or s-1vcpu-512mb-10gb so every plan can use the image", b.Cfg.Size, size.Disk, size.Disk)))
	}
	return nil
}

// smallestDisk is the disk of s-1vcpu-1gb: images built on larger disks
// cannot be used on the cheapest plans.
const smallestDisk = 25

type keygen struct{ nothingToUndo }

func (keygen) String() string     { return "generate keys" }
func (keygen) Skip(b *Build) bool { return !usesDroplet(b) }
func (keygen) Run(ctx context.Context, b *Build) error {
	k, err := remote.NewKeyPair("mp-image-" + b.RunID)
	if err != nil {
		return err
	}
	h, err := remote.NewHostKey()
	if err != nil {
		return err
	}
	ud, err := remote.MergeUserData(h.CloudConfig(), userData(b))
	if err != nil {
		return fmt.Errorf("user_data: %w", err)
	}
	b.Key, b.HostKey, b.UserData = k, h, ud
	return nil
}

func userData(b *Build) string {
	if b.Plan != nil {
		return b.Plan.Builder.UserData
	}
	return ""
}

type createKey struct{}

func (createKey) String() string     { return "create temporary SSH key" }
func (createKey) Skip(b *Build) bool { return !usesDroplet(b) }
func (createKey) Run(ctx context.Context, b *Build) error {
	fctx, done := finishCreate(ctx)
	k, err := b.Cloud.CreateKey(fctx, "mp-image-"+b.RunID, b.Key.AuthorizedKey, b.Key.Fingerprint())
	done()
	if k != nil {
		b.AccountKey = k
		b.Out.State(report.StateKeyID, fmt.Sprint(k.ID))
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

// createGrace is how long a create already sent may finish after the build
// is cancelled: its answer carries the ID that cleanup deletes.
const createGrace = 3 * time.Second

// finishCreate returns the context for a create: unlike ctx it is not cut
// off the moment ctx is cancelled (a request cut off mid-flight may still
// create the resource, and its ID is lost with the answer) but createGrace
// later. The caller checks ctx afterwards.
func finishCreate(ctx context.Context) (context.Context, context.CancelFunc) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var t *time.Timer
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		t = time.AfterFunc(createGrace, cancel)
		mu.Unlock()
	})
	return fctx, func() {
		stop()
		mu.Lock()
		if t != nil {
			t.Stop()
		}
		mu.Unlock()
		cancel()
	}
}
func (createKey) Cleanup(ctx context.Context, b *Build) error {
	if b.AccountKey == nil {
		// The create may have taken effect with its answer lost (the build
		// was cancelled mid-request): find it by its fingerprint.
		return deleteLostKey(ctx, b, b.Key)
	}
	if err := b.Cloud.DeleteKey(ctx, b.AccountKey.ID); err != nil {
		return err
	}
	b.AccountKey = nil
	return nil
}

type createDroplet struct{}

func (createDroplet) String() string     { return "create build droplet" }
func (createDroplet) Skip(b *Build) bool { return !usesDroplet(b) }
func (createDroplet) Run(ctx context.Context, b *Build) error {
	req := &godo.DropletCreateRequest{
		Name:     dropletName(b),
		Region:   b.Cfg.Region,
		Size:     b.Cfg.Size,
		Image:    imageRef(b.Cfg.Image),
		SSHKeys:  []godo.DropletCreateSSHKey{{ID: b.AccountKey.ID}},
		UserData: b.UserData,
		Tags:     dropletTags(b),
	}
	if p := b.Plan; p != nil {
		req.Monitoring = p.Builder.Monitoring
		req.IPv6 = p.Builder.IPv6
		req.VPCUUID = p.Builder.VPCUUID
		req.PrivateNetworking = p.Builder.PrivateNetworking
		req.WithDropletAgent = p.Builder.DropletAgent
	}
	if req.WithDropletAgent == nil {
		// The agent fails Marketplace validation (/opt/digitalocean): do not install it.
		no := false
		req.WithDropletAgent = &no
	}
	fctx, done := finishCreate(ctx)
	d, err := b.Cloud.CreateDroplet(fctx, req, b.RunTag)
	done()
	if d != nil {
		b.Droplet = d
		b.Out.State(report.StateDropletID, fmt.Sprint(d.ID))
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}
func (createDroplet) Cleanup(ctx context.Context, b *Build) error {
	if b.Kept {
		return nil
	}
	if b.Droplet == nil {
		if b.dropletGone {
			return nil
		}
		// The create may have taken effect with its answer lost (the build
		// was cancelled mid-request): find it by the run tag and its name.
		return deleteLostDroplets(ctx, b, dropletName(b))
	}
	if err := b.Cloud.DeleteDroplet(ctx, b.Droplet.ID); err != nil {
		return err
	}
	b.logf("deleted droplet %d", b.Droplet.ID)
	b.Droplet, b.dropletGone = nil, true
	return nil
}

// deleteLostDroplets deletes the droplets named name with the run's tag,
// made by a create whose answer never came back.
func deleteLostDroplets(ctx context.Context, b *Build, name string) error {
	ds, err := b.Cloud.DropletsNamed(ctx, b.RunTag, name)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ds {
		if err := b.Cloud.DeleteDroplet(ctx, d.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		b.logf("deleted droplet %d (%s), created by a request whose answer was lost", d.ID, d.Name)
	}
	return errors.Join(errs...)
}

// deleteLostKey deletes the account key of kp when a create whose answer
// never came back made it.
func deleteLostKey(ctx context.Context, b *Build, kp *remote.KeyPair) error {
	if kp == nil {
		return nil
	}
	k, err := b.Cloud.KeyByFingerprint(ctx, kp.Fingerprint())
	if err != nil || k == nil {
		return err
	}
	if err := b.Cloud.DeleteKey(ctx, k.ID); err != nil {
		return err
	}
	b.logf("deleted key %d (%s), created by a request whose answer was lost", k.ID, k.Name)
	return nil
}

func dropletName(b *Build) string {
	if b.Plan != nil && b.Plan.Builder.DropletName != "" {
		return b.Plan.Builder.DropletName
	}
	return "mp-image-" + b.RunID
}

func dropletTags(b *Build) []string {
	tags := []string{ToolTag, b.RunTag}
	if b.Plan != nil {
		tags = append(tags, b.Plan.Builder.Tags...)
	}
	for _, t := range b.Cfg.DropletTags {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags
}

func imageRef(s string) godo.DropletCreateImage {
	var id int
	if _, err := fmt.Sscanf(s, "%d", &id); err == nil && fmt.Sprint(id) == s {
		return godo.DropletCreateImage{ID: id}
	}
	return godo.DropletCreateImage{Slug: s}
}

type waitActive struct{ nothingToUndo }

func (waitActive) String() string     { return "wait for the droplet to become active" }
func (waitActive) Skip(b *Build) bool { return !usesDroplet(b) }
func (waitActive) Run(ctx context.Context, b *Build) error {
	ctx, cancel := withTimeout(ctx, b.Cfg.Timeouts.Active)
	defer cancel()
	d, err := b.Cloud.WaitActive(ctx, b.Droplet.ID)
	if d != nil {
		b.Droplet = d
	}
	if err != nil {
		return err
	}
	b.IP, _ = d.PublicIPv4()
	b.logf("droplet %d (%s) is active at %s", d.ID, d.Name, b.IP)
	return nil
}

type powerOff struct{ nothingToUndo }

func (powerOff) String() string     { return "power off" }
func (powerOff) Skip(b *Build) bool { return b.Cloud == nil || b.Droplet == nil && usesDroplet(b) }
func (powerOff) Run(ctx context.Context, b *Build) error {
	if b.SSH != nil {
		b.SSH.Close() // the OS is going down; nothing more runs over SSH
		b.SSH = nil
	}
	grace := b.Cfg.Timeouts.Shutdown
	if grace <= 0 {
		grace = defaultShutdownGrace
	}
	fellBack, err := b.Cloud.Shutdown(ctx, b.Droplet.ID, grace)
	if fellBack {
		b.Out.Annotate(warning("shutdown", fmt.Sprintf("droplet %d did not shut down within %s; it was powered off", b.Droplet.ID, grace)))
	}
	return err
}

type snapshot struct{}

func (snapshot) String() string     { return "snapshot" }
func (snapshot) Skip(b *Build) bool { return b.Cloud == nil || b.Droplet == nil }
func (snapshot) Run(ctx context.Context, b *Build) error {
	name, err := snapshotName(b)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, b.Cfg.Timeouts.Snapshot)
	defer cancel()
	img, err := b.Cloud.Snapshot(ctx, b.Droplet.ID, name, 0)
	if err != nil {
		return err
	}
	b.Snapshot = img
	b.Regions = append([]string(nil), img.Regions...)
	b.Out.State(report.StateSnapshotID, fmt.Sprint(img.ID))
	b.logf("snapshot %d %q", img.ID, img.Name)
	// Until the build finishes, the snapshot carries its run's tag: that is
	// what marks it pending, so reap finds it (and reap --tag narrows to it)
	// if this run is killed before it can decide to keep or delete it. One
	// tag, which the droplet's create already made: one request to mark and
	// one to release.
	return b.Cloud.TagImage(ctx, img.ID, []string{b.RunTag})
}

// PendingRun reports whether a snapshot's tags mark it pending, that is still
// carrying the tag of the run that made it, and that run's tag.
func PendingRun(tags []string) (string, bool) {
	for _, t := range tags {
		if strings.HasPrefix(t, RunTagPrefix) {
			return t, true
		}
	}
	return "", false
}

// released reports that the snapshot passed everything up to release: a
// later failure (boot test, submission) keeps it, reported, so nothing is lost.
func (b *Build) released() bool {
	for _, r := range b.Records {
		if r.Name == (release{}).String() && r.Status == "ok" {
			return true
		}
	}
	return false
}

type release struct{ nothingToUndo }

func (release) String() string     { return "release the snapshot" }
func (release) Skip(b *Build) bool { return b.Snapshot == nil }
func (release) Run(ctx context.Context, b *Build) error {
	return b.Cloud.UntagImage(ctx, b.Snapshot.ID, b.RunTag)
}

// Cleanup deletes the snapshot only when the build failed after it was made
// and keep-snapshot-on-failure is off; otherwise it is reported as an output.
// A failed boot test keeps it: the snapshot itself was made and released.
func (snapshot) Cleanup(ctx context.Context, b *Build) error {
	// Cancelled: everything the run made goes, released or not.
	if b.Snapshot == nil || b.succeeded() || b.Cfg.KeepSnapshotOnFailure || b.released() && !b.Cancelled {
		return nil
	}
	if err := b.Cloud.DeleteImage(ctx, b.Snapshot.ID); err != nil {
		return err
	}
	if b.Cancelled {
		b.logf("deleted snapshot %d: the build was cancelled (set keep-snapshot-on-failure to keep it)", b.Snapshot.ID)
	} else {
		b.logf("deleted snapshot %d made before the failure (set keep-snapshot-on-failure to keep it)", b.Snapshot.ID)
	}
	b.Snapshot = nil
	return nil
}

func snapshotName(b *Build) (string, error) {
	tmpl := b.Cfg.SnapshotName
	// A template's snapshot_name stands unless the user chose another name.
	if b.Plan != nil && b.Plan.Builder.SnapshotName != "" && (tmpl == "" || tmpl == config.DefaultSnapshotName) {
		return b.Plan.Builder.SnapshotName, nil
	}
	return config.RenderSnapshotName(tmpl, b.Started, b.RunID)
}

func (b *Build) succeeded() bool {
	for _, r := range b.Records {
		if r.Status == "failed" || r.Status == "cancelled" {
			return false
		}
	}
	return !b.Cancelled
}

type deleteDroplet struct{ nothingToUndo }

func (deleteDroplet) String() string     { return "delete build droplet" }
func (deleteDroplet) Skip(b *Build) bool { return b.Droplet == nil || !usesDroplet(b) }
func (deleteDroplet) Run(ctx context.Context, b *Build) error {
	if err := b.Cloud.DeleteDroplet(ctx, b.Droplet.ID); err != nil {
		return err
	}
	b.Droplet, b.dropletGone = nil, true
	return nil
}

type transfer struct{ nothingToUndo }

func (transfer) String() string { return "transfer and tag the snapshot" }
func (transfer) Skip(b *Build) bool {
	return b.Snapshot == nil || len(extraRegions(b)) == 0 && len(snapshotTags(b)) == 0
}
func (transfer) Run(ctx context.Context, b *Build) error {
	ctx, cancel := withTimeout(ctx, b.Cfg.Timeouts.Transfer)
	defer cancel()
	var errs []error
	if regions := extraRegions(b); len(regions) > 0 {
		if err := b.Cloud.Transfer(ctx, b.Snapshot.ID, regions); err != nil {
			errs = append(errs, err)
		} else {
			b.Regions = append(b.Regions, regions...)
		}
	}
	if tags := snapshotTags(b); len(tags) > 0 {
		if err := b.Cloud.TagImage(ctx, b.Snapshot.ID, tags); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func extraRegions(b *Build) []string {
	var out []string
	want := b.Cfg.SnapshotRegions
	if len(want) == 0 && b.Plan != nil {
		want = b.Plan.Builder.SnapshotRegions
	}
	for _, r := range want {
		if b.Snapshot != nil && !slices.Contains(b.Snapshot.Regions, r) && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func snapshotTags(b *Build) []string {
	tags := append([]string(nil), b.Cfg.SnapshotTags...)
	if b.Plan != nil {
		for _, t := range b.Plan.Builder.SnapshotTags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	return tags
}

type keepOrDelete struct{ nothingToUndo }

func (keepOrDelete) String() string     { return "keep or delete the droplet" }
func (keepOrDelete) Skip(b *Build) bool { return b.Droplet == nil || !usesDroplet(b) }
func (keepOrDelete) Run(ctx context.Context, b *Build) error {
	if !b.Cfg.KeepDroplet {
		if b.SSH != nil {
			b.SSH.Close()
			b.SSH = nil
		}
		if err := b.Cloud.DeleteDroplet(ctx, b.Droplet.ID); err != nil {
			return err
		}
		b.Droplet, b.dropletGone = nil, true
		return nil
	}
	dir := os.Getenv("RUNNER_TEMP")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, "mp-image-"+b.RunID+".key")
	if err := b.Key.WritePrivateKey(path); err != nil {
		return err
	}
	b.KeyPath, b.Kept = path, true
	b.logf("droplet %d kept at %s: ssh -i %s %s@%s (private key saved 0600; delete the droplet when done)", b.Droplet.ID, b.IP, path, sshUser(b), b.IP)
	return nil
}
