//go:build linux

// Package cloudenv sets up what the end-to-end tests and the benchmarks run
// against: the mp-image binary built from the repository, a systemd-nspawn
// machine backend with its base image, and a local cloud on that backend.
// (It is not in testutil: the local cloud's own tests import testutil.)
package cloudenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/localcloud/nspawn"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// Env is one backend, one emulator on it, one built binary.
type Env struct {
	Root    string // repository root
	Tmp     string // removed by Close
	Bin     string // the built mp-image
	Backend *nspawn.Backend
	Srv     *localcloud.Server
	Token   string
}

// Unavailable explains why machines cannot run here (nil when they can):
// callers skip, or fail under MP_REQUIRE_E2E=1.
func Unavailable() error { return nspawn.Available() }

// Build compiles ./cmd/mp-image of root into out with extra environment
// (e.g. CGO_ENABLED=0) and go build flags.
func Build(root, out string, extraEnv []string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, "./cmd/mp-image")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building mp-image: %w", err)
	}
	return nil
}

// Start builds the binary, starts the backend (base image debian-12-x64
// ready) and a local cloud with o (Machines filled in, and Token when empty).
// verbose logs the backend's progress to stderr.
func Start(ctx context.Context, root string, o localcloud.Options, verbose bool) (*Env, error) {
	tmp, err := os.MkdirTemp("", "mp-image-env-")
	if err != nil {
		return nil, err
	}
	e := &Env{Root: root, Tmp: tmp, Bin: filepath.Join(tmp, "mp-image")}
	if err := Build(root, e.Bin, nil); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	e.Backend, err = nspawn.New(ctx, nspawn.Options{Logf: func(f string, a ...any) {
		if verbose {
			fmt.Fprintf(os.Stderr, "nspawn: "+f+"\n", a...)
		}
	}})
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("nspawn backend: %w", err)
	}
	if err := e.Backend.EnsureBaseImage(ctx, "debian-12-x64"); err != nil {
		e.Backend.Close(ctx)
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("base image: %w", err)
	}
	if o.Token == "" {
		o.Token = fmt.Sprintf("env-token-%d", time.Now().UnixNano())
	}
	e.Token, o.Machines = o.Token, e.Backend
	e.Srv, err = localcloud.Start(ctx, o)
	if err != nil {
		e.Backend.Close(ctx)
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("local cloud: %w", err)
	}
	return e, nil
}

// Close deletes every droplet and snapshot, closes the backend (the local
// cloud's Close does) and removes the temporary directory.
func (e *Env) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := e.Srv.Close(ctx)
	os.RemoveAll(e.Tmp)
	return err
}

// Main is TestMain's body for a package that runs against local droplets:
// unless skip already says why not, it starts an Env with o on the
// repository holding the working directory, hands it to ready (an Env with
// only Root, and the reason, when machines cannot run here), runs m and
// closes the Env.
// MP_E2E_VERBOSE=1 logs the backend's progress.
func Main(m *testing.M, skip string, o localcloud.Options, ready func(e *Env, skip string)) int {
	root, err := testutil.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if skip == "" {
		if err := Unavailable(); err != nil {
			skip = "local droplets cannot run here: " + err.Error()
		}
	}
	if skip != "" {
		ready(&Env{Root: root}, skip)
		return m.Run()
	}
	e, err := Start(context.Background(), root, o, os.Getenv("MP_E2E_VERBOSE") != "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ready(e, "")
	code := m.Run()
	if err := e.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "closing the local cloud:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Need skips t when skip says why droplets cannot run, or fails it when
// the run requires them (MP_REQUIRE_E2E=1, as scripts/test and CI set).
func Need(t testing.TB, skip string) {
	t.Helper()
	if skip == "" {
		return
	}
	if os.Getenv("MP_REQUIRE_E2E") == "1" {
		t.Fatalf("required (MP_REQUIRE_E2E=1) but %s", skip)
	}
	t.Skip(skip)
}

// Droplet is a droplet a test made with its own login key and a host key
// pinned through user_data.
type Droplet struct {
	ID   int
	IP   string
	Key  *remote.KeyPair
	Host *remote.HostKey
}

// Boot creates a droplet named name from image on c (nyc3, with a key of
// the same name) and waits until it is active; t.Cleanup deletes both.
func Boot(t testing.TB, c *godo.Client, image godo.DropletCreateImage, name string) *Droplet {
	t.Helper()
	hk, err := remote.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	return boot(t, c, image, name, hk)
}

// BootUnpinned is Boot without a host key in user_data: the droplet makes its
// own, as a customer's droplet does (Host is nil).
func BootUnpinned(t testing.TB, c *godo.Client, image godo.DropletCreateImage, name string) *Droplet {
	t.Helper()
	return boot(t, c, image, name, nil)
}

func boot(t testing.TB, c *godo.Client, image godo.DropletCreateImage, name string, hk *remote.HostKey) *Droplet {
	t.Helper()
	ctx := context.Background()
	kp, err := remote.NewKeyPair(name)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := c.Keys.Create(ctx, &godo.KeyCreateRequest{Name: name, PublicKey: kp.AuthorizedKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Keys.DeleteByID(ctx, key.ID) })
	userData := ""
	if hk != nil {
		userData = hk.CloudConfig()
	}
	d, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{
		Name: name, Region: "nyc3", Size: "s-1vcpu-1gb", Image: image,
		SSHKeys: []godo.DropletCreateSSHKey{{ID: key.ID}}, UserData: userData,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Droplets.Delete(ctx, d.ID) })
	deadline := time.Now().Add(3 * time.Minute)
	for d.Status != "active" {
		if time.Now().After(deadline) {
			t.Fatalf("droplet %d not active after 3 minutes", d.ID)
		}
		time.Sleep(300 * time.Millisecond)
		if d, _, err = c.Droplets.Get(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	ip, _ := d.PublicIPv4()
	return &Droplet{ID: d.ID, IP: ip, Key: kp, Host: hk}
}
