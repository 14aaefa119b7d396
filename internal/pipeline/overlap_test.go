package pipeline

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// bootStandIn stands in for the boot test (which needs a real machine): a
// foreground step after the snapshot. It notes whether a transfer had
// completed when it started, waits until the build droplet is gone, and
// fails when told to.
type bootStandIn struct {
	srv  *localcloud.Server
	fail bool
	// transferDoneAtStart: a transfer had completed when the step started.
	transferDoneAtStart *bool
}

func (bootStandIn) String() string { return "boot test stand-in" }
func (bootStandIn) Declare() Decl  { return Decl{Needs: API | Snapshot} }
func (s bootStandIn) Run(ctx context.Context, b *Build) error {
	*s.transferDoneAtStart = transferCompleted(s.srv)
	for len(s.srv.Ledger().Live(localcloud.KindDroplet)) > 0 {
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
	if s.fail {
		return errors.New("verify script failed")
	}
	return nil
}
func (bootStandIn) Cleanup(context.Context, *Build) error { return nil }

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func transferCompleted(srv *localcloud.Server) bool {
	for _, e := range srv.Events() {
		if e.Kind == localcloud.KindAction && e.Name == "transfer" && e.To == "completed" {
			return true
		}
	}
	return false
}

// overlapBuild runs build_image's steps from the key to the release on the
// API-only local cloud, with the stand-in for the boot test; transfers take
// 2 s there, so the stand-in starts long before one can complete.
func overlapBuild(t *testing.T, failBoot, failTransfer bool) (*Build, *localcloud.Server, *godo.Client, bool, error) {
	t.Parallel()
	b, srv, g := testBuild(t)
	srv.SetTiming(localcloud.Timing{Transfer: 4000 * time.Second}) // times 0.0005: 2 s
	if failTransfer {
		srv.Faults().FailTransfers()
	}
	b.Cfg.Region, b.Cfg.Size, b.Cfg.Image = "nyc3", "s-1vcpu-1gb", "debian-12-x64"
	b.Cfg.SnapshotName, b.Cfg.SnapshotRegions = "overlap-{{run_id}}", []string{"nyc3", "ams3"}
	b.Started, b.Timing = time.Now(), nil
	var out testutil.SyncBuffer
	b.Out = report.NewConsole(&out, false, nil)
	var doneAtStart bool
	steps := []Step{keygen{}, createKey{}, createDroplet{}, waitActive{}, powerOff{}, snapshot{},
		deleteDroplet{}, transfer{}, release{}, bootStandIn{srv, failBoot, &doneAtStart}}
	err := Run(context.Background(), b, steps)
	t.Logf("console:\n%s", out.String())
	return b, srv, g, doneAtStart, err
}

func record(t *testing.T, b *Build, name string) report.StepRecord {
	t.Helper()
	for _, r := range b.Records {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no record of %q in %+v", name, b.Records)
	return report.StepRecord{}
}

func end(r report.StepRecord) time.Duration { return r.Offset + r.Duration }

// TestWorkAfterTheSnapshotOverlaps: once the snapshot exists the build
// droplet's deletion and the transfer start at once, in the background; the
// boot test runs meanwhile in the build region; the release waits for the
// transfer. The manifest's timing block reports each overlap.
func TestWorkAfterTheSnapshotOverlaps(t *testing.T) {
	b, srv, g, doneAtStart, err := overlapBuild(t, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if doneAtStart {
		t.Error("the transfer had completed before the boot test started: they did not overlap")
	}
	tr, rel, boot, del := record(t, b, "transfer and tag the snapshot"), record(t, b, "release the snapshot"),
		record(t, b, "boot test stand-in"), record(t, b, "delete build droplet")
	for _, r := range []report.StepRecord{tr, rel, boot, del} {
		if r.Status != report.StatusOK {
			t.Errorf("%s: %s %s", r.Name, r.Status, r.Detail)
		}
	}
	if end(boot) >= end(tr) {
		t.Errorf("the boot test ended at %s, after the transfer (%s): it waited for it", end(boot), end(tr))
	}
	if rel.Offset < end(tr) {
		t.Errorf("the release started at %s, before the transfer ended at %s", rel.Offset, end(tr))
	}
	if !b.Released || !strings.Contains(strings.Join(b.Regions, ","), "ams3") {
		t.Errorf("released %v, regions %v", b.Released, b.Regions)
	}
	img, _, err := g.Images.GetByID(context.Background(), b.Snapshot.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(img.Regions, ",") != "nyc3,ams3" || len(img.Tags) != 0 {
		t.Errorf("snapshot regions %v tags %v; want nyc3,ams3 and no pending tag", img.Regions, img.Tags)
	}
	if n := len(srv.Ledger().Live(localcloud.KindDroplet)) + len(srv.Ledger().Live(localcloud.KindKey)); n != 0 {
		t.Errorf("%d droplets and keys left", n)
	}
	m := b.Manifest(nil)
	pairs := map[[2]string]float64{}
	for _, o := range m.Timing.Overlaps {
		pairs[o.Steps] = o.Seconds
		pairs[[2]string{o.Steps[1], o.Steps[0]}] = o.Seconds
	}
	for _, want := range [][2]string{
		{"delete build droplet", "transfer and tag the snapshot"},
		{"transfer and tag the snapshot", "boot test stand-in"},
	} {
		if pairs[want] <= 0 {
			t.Errorf("the manifest's timing block lacks the overlap of %q and %q: %+v", want[0], want[1], m.Timing.Overlaps)
		}
	}
	if m.Timing.Saved <= 0 {
		t.Errorf("overlap saved %v s", m.Timing.Saved)
	}
}

// TestBootTestFailureStillReleases: the boot test fails while the transfer
// runs; the transfer and the release still finish, so the snapshot is kept
// and released, as before the overlap.
func TestBootTestFailureStillReleases(t *testing.T) {
	b, srv, g, _, err := overlapBuild(t, true, false)
	if err == nil || !strings.Contains(err.Error(), "boot test stand-in: verify script failed") {
		t.Fatalf("Run = %v", err)
	}
	if r := record(t, b, "release the snapshot"); r.Status != report.StatusOK || !b.Released {
		t.Errorf("release: %+v, released %v", r, b.Released)
	}
	if _, _, err := g.Images.GetByID(context.Background(), b.Snapshot.ID); err != nil {
		t.Errorf("the released snapshot is gone: %v", err)
	}
	if n := len(srv.Ledger().Live(localcloud.KindDroplet)) + len(srv.Ledger().Live(localcloud.KindKey)); n != 0 {
		t.Errorf("%d droplets and keys left", n)
	}
}

// TestTransferFailureSkipsTheRelease: a failed transfer fails the build; the
// release that waited for it is skipped with the reason, the boot test that
// ran meanwhile ends, and the unreleased snapshot is deleted.
func TestTransferFailureSkipsTheRelease(t *testing.T) {
	b, srv, _, _, err := overlapBuild(t, false, true)
	if err == nil || !strings.Contains(err.Error(), "transfer and tag the snapshot:") {
		t.Fatalf("Run = %v", err)
	}
	if r := record(t, b, "release the snapshot"); r.Status != report.StatusSkipped || r.Detail != "transfer and tag the snapshot did not finish" {
		t.Errorf("release: %+v", r)
	}
	if r := record(t, b, "boot test stand-in"); r.Status != report.StatusOK {
		t.Errorf("boot test stand-in: %+v", r)
	}
	if b.Released || b.Snapshot != nil || len(srv.Ledger().Live(localcloud.KindSnapshot)) != 0 {
		t.Errorf("released %v, snapshot %v, %d snapshots live: want it deleted", b.Released, b.Snapshot, len(srv.Ledger().Live(localcloud.KindSnapshot)))
	}
	if n := len(srv.Ledger().Live(localcloud.KindDroplet)) + len(srv.Ledger().Live(localcloud.KindKey)); n != 0 {
		t.Errorf("%d droplets and keys left", n)
	}
}

// failing is a step that fails.
type failing struct{ nothingToUndo }

func (failing) String() string                    { return "failing step" }
func (failing) Declare() Decl                     { return Decl{} }
func (failing) Run(context.Context, *Build) error { return errors.New("provisioning failed") }

// TestCleanupDeletesAreSentTogether: after a failure the cleanups send every
// delete first and then verify them all, instead of waiting for each before
// sending the next.
func TestCleanupDeletesAreSentTogether(t *testing.T) {
	b, srv, _ := testBuild(t)
	var mu sync.Mutex
	var seen []string
	u, _ := url.Parse(srv.URL())
	api := httputil.NewSingleHostReverseProxy(u)
	px := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete || strings.Contains(r.URL.Path, "/droplets/") || strings.Contains(r.URL.Path, "/keys/") {
			mu.Lock()
			seen = append(seen, r.Method+" "+regexp.MustCompile(`/[0-9]+`).ReplaceAllString(r.URL.Path, "/N"))
			mu.Unlock()
		}
		api.ServeHTTP(w, r)
	}))
	defer px.Close()
	c, err := cloud.New(cloud.Options{Token: testToken, APIURL: px.URL, MinBackoff: time.Millisecond, PollTick: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b.Cloud = c
	b.Cfg.Region, b.Cfg.Size, b.Cfg.Image = "nyc3", "s-1vcpu-1gb", "debian-12-x64"
	b.Out = report.NewConsole(io.Discard, false, nil)
	err = Run(context.Background(), b, []Step{keygen{}, createKey{}, createDroplet{}, waitActive{}, failing{}})
	if err == nil || !strings.Contains(err.Error(), "provisioning failed") {
		t.Fatalf("Run = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// The waits for the droplet to become active come first; the cleanups' requests after.
	i := slices.Index(seen, "DELETE /v2/droplets/N")
	if i < 0 || len(seen) < i+4 {
		t.Fatalf("requests: %v", seen)
	}
	got := strings.Join(seen[i:i+2], ", ")
	if got != "DELETE /v2/droplets/N, DELETE /v2/account/keys/N" {
		t.Errorf("the cleanups' first requests are %s, then %v; want both deletes first", got, seen[i+2:])
	}
	for _, r := range seen[i+2:] {
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("after the deletes: %s; want only the checks that they are gone", r)
		}
	}
	if n := len(srv.Ledger().Live(localcloud.KindDroplet)) + len(srv.Ledger().Live(localcloud.KindKey)); n != 0 {
		t.Errorf("%d droplets and keys left", n)
	}
	if b.Droplet != nil || b.AccountKey != nil {
		t.Errorf("the build still holds droplet %v key %v after they were verified gone", b.Droplet, b.AccountKey)
	}
}
