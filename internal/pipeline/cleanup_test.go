package pipeline

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/remote/sshtest"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

const testToken = "pipeline-test-token"

// startCloud serves an API-only local cloud (or with o.Machines) for the
// test; scale is its clock against DigitalOcean's.
func startCloud(t *testing.T, o localcloud.Options) *localcloud.Server {
	t.Helper()
	o.Token = testToken
	srv, err := localcloud.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close(cctx)
	})
	return srv
}

// testBuild is a build against an API-only local cloud.
func testBuild(t *testing.T) (*Build, *localcloud.Server, *godo.Client) {
	t.Helper()
	srv := startCloud(t, localcloud.Options{TimeScale: 0.0005})
	c, err := cloud.New(cloud.Options{Token: testToken, APIURL: srv.URL(), MinBackoff: time.Millisecond, PollTick: time.Millisecond,
		ExpectActive: time.Millisecond, ExpectShutdown: time.Millisecond, ExpectSnapshot: time.Millisecond, ExpectTransfer: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	g := testutil.Godo(srv.URL(), testToken)
	b := &Build{Cfg: &config.Config{}, Cloud: c, RunID: "r1", RunTag: RunTagPrefix + "r1", Logf: t.Logf}
	return b, srv, g
}

func mkDroplet(t *testing.T, g *godo.Client, name string, tags ...string) int {
	t.Helper()
	d, _, err := g.Droplets.Create(context.Background(), &godo.DropletCreateRequest{Name: name, Region: "nyc3",
		Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	return d.ID
}

func liveIDs(srv *localcloud.Server, kind string) map[string]bool {
	out := map[string]bool{}
	for _, r := range srv.Ledger().Live(kind) {
		out[r.ID] = true
	}
	return out
}

// A create cancelled mid-request may still take effect; the build never
// learns the droplet's ID. Cleanup finds it by run tag and name, and leaves
// every other droplet alone.
func TestCleanupDeletesDropletWhoseCreateAnswerWasLost(t *testing.T) {
	b, srv, g := testBuild(t)
	lost := mkDroplet(t, g, "mp-image-r1", ToolTag, b.RunTag)
	otherRun := mkDroplet(t, g, "mp-image-r1", ToolTag, RunTagPrefix+"r2")
	boot := mkDroplet(t, g, "mp-image-boot-r1", ToolTag, b.RunTag)
	if err := (createDroplet{}).Cleanup(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	live := liveIDs(srv, localcloud.KindDroplet)
	if live[itoa(lost)] {
		t.Errorf("droplet %d of this run, created by a lost create, is still there", lost)
	}
	if !live[itoa(otherRun)] || !live[itoa(boot)] {
		t.Errorf("cleanup deleted a droplet it did not make: live %v", live)
	}
	// The boot test's droplet likewise, by its own name.
	b.boot = &bootTestState{name: "mp-image-boot-r1"}
	if err := (bootTest{}).Cleanup(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if live := liveIDs(srv, localcloud.KindDroplet); live[itoa(boot)] || !live[itoa(otherRun)] {
		t.Errorf("after the boot test's cleanup: live %v, want only %d", live, otherRun)
	}
}

func TestCleanupDeletesKeyWhoseCreateAnswerWasLost(t *testing.T) {
	b, srv, g := testBuild(t)
	ctx := context.Background()
	kp, err := remote.NewKeyPair("t")
	if err != nil {
		t.Fatal(err)
	}
	other, err := remote.NewKeyPair("other")
	if err != nil {
		t.Fatal(err)
	}
	b.Key = kp
	lost, _, err := g.Keys.Create(ctx, &godo.KeyCreateRequest{Name: "mp-image-r1", PublicKey: kp.AuthorizedKey})
	if err != nil {
		t.Fatal(err)
	}
	keep, _, err := g.Keys.Create(ctx, &godo.KeyCreateRequest{Name: "someone", PublicKey: other.AuthorizedKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := (createKey{}).Cleanup(ctx, b); err != nil {
		t.Fatal(err)
	}
	live := liveIDs(srv, localcloud.KindKey)
	if live[itoa(lost.ID)] || !live[itoa(keep.ID)] {
		t.Errorf("live keys %v: want %d gone and %d kept", live, lost.ID, keep.ID)
	}
	// Nothing made: nothing to do, no error.
	if err := (createKey{}).Cleanup(ctx, b); err != nil {
		t.Fatal(err)
	}
}

// A released snapshot survives a failed boot test, but not a cancellation:
// a cancelled run leaves nothing.
func TestSnapshotCleanupAfterRelease(t *testing.T) {
	for _, tt := range []struct {
		name      string
		cancelled bool
		keep      bool
		wantLive  bool
	}{
		{"boot test failed", false, false, true},
		{"cancelled", true, false, false},
		{"cancelled, keep-snapshot-on-failure", true, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, srv, g := testBuild(t)
			ctx := context.Background()
			id := mkDroplet(t, g, "d", b.RunTag)
			img, err := b.Cloud.Snapshot(ctx, id, "snap-r1", 0)
			if err != nil {
				t.Fatal(err)
			}
			b.Snapshot = img
			b.Cfg.KeepSnapshotOnFailure = tt.keep
			b.Released, b.Failed, b.BootTestFailed, b.Cancelled = true, bootTest{}, true, tt.cancelled
			if err := (snapshot{}).Cleanup(ctx, b); err != nil {
				t.Fatal(err)
			}
			if live := liveIDs(srv, localcloud.KindSnapshot)[itoa(img.ID)]; live != tt.wantLive {
				t.Errorf("snapshot live = %v, want %v", live, tt.wantLive)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// SIGTERM while the create request is in flight: the create is allowed to
// finish, so the build knows the droplet's ID and its cleanup deletes it,
// and the step still reports the cancellation.
func TestCreateInFlightWhenCancelledIsRecorded(t *testing.T) {
	b, srv, g := testBuild(t)
	kp, err := remote.NewKeyPair("t")
	if err != nil {
		t.Fatal(err)
	}
	b.Key = kp
	k, _, err := g.Keys.Create(context.Background(), &godo.KeyCreateRequest{Name: "k", PublicKey: kp.AuthorizedKey})
	if err != nil {
		t.Fatal(err)
	}
	b.AccountKey = k
	b.Cfg.Region, b.Cfg.Size, b.Cfg.Image = "nyc3", "s-1vcpu-1gb", "debian-12-x64"
	b.Out = report.NewConsole(io.Discard, false, nil)
	// The emulator holds the create's answer back; the signal comes meanwhile.
	srv.Faults().Add(localcloud.Fault{Method: "POST", Path: "/v2/droplets", Delay: 500 * time.Millisecond, Times: 1})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err = (createDroplet{}).Run(ctx, b)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want the cancellation", err)
	}
	if b.Droplet == nil {
		t.Fatal("the droplet created by the in-flight request is unknown to the build")
	}
	if err := (createDroplet{}).Cleanup(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Ledger().Live(localcloud.KindDroplet)); n != 0 {
		t.Fatalf("%d droplets left", n)
	}
}

// A connection lost during the Marketplace cleanup fails the step with a
// message that says why it is not retried, and no reconnection is tried.
// The server goes away before the cleanup starts.
func TestCleanupDropNotRetried(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, c, kp := dialTestServer(ctx, t, t.TempDir())
	// Close, not DropAll: with the listener gone too, nothing (the cleanup
	// script above all) can ever run on this machine, even by a reconnection.
	s.Close()
	b := &Build{Cfg: &config.Config{}, SSH: c, Key: kp, Logf: t.Logf, Out: report.NewConsole(io.Discard, false, nil)}
	err := (cleanUp{}).Run(ctx, b)
	if err == nil {
		t.Fatal("cleanup over a dropped connection succeeded")
	}
	var de *remote.DisconnectError
	if !errors.As(err, &de) {
		t.Errorf("error %v does not keep the DisconnectError", err)
	}
	for _, want := range []string{"dropped during the cleanup", "not retried", "authorized_keys"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if n := s.Accepted(); n != 1 {
		t.Errorf("%d connections accepted, want 1 (no reconnection)", n)
	}
	if cmds := s.Commands(); len(cmds) != 0 {
		t.Errorf("commands ran: %q", cmds)
	}
}

// dialTestServer starts an in-process SSH server running commands in dir and
// connects to it with a fresh key.
func dialTestServer(ctx context.Context, t *testing.T, dir string) (*sshtest.Server, *remote.Client, *remote.KeyPair) {
	t.Helper()
	kp, err := remote.NewKeyPair("t")
	if err != nil {
		t.Fatal(err)
	}
	s := sshtest.New(t, sshtest.Options{AuthorizedKeys: []ssh.PublicKey{kp.Signer.PublicKey()}, Dir: dir})
	c, err := remote.Dial(ctx, remote.Config{Addr: s.Addr(), Signer: kp.Signer, HostKey: s.HostKey(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c, kp
}
