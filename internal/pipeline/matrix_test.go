package pipeline

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/remote/sshtest"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// sshMachines is the API-only local cloud's backend with an in-process SSH
// server per droplet: it presents the host key the droplet's user_data
// delivers (as cloud-init installs it) and accepts the droplet's SSH keys.
// Commands are answered by fakeMachine; nothing runs on the host.
type sshMachines struct {
	localcloud.Machines
	t       *testing.T
	facts   []byte // imagecheck's collect output of a clean Debian 12
	mu      sync.Mutex
	servers map[string]*sshtest.Server // by the droplet's public IPv4
}

func (m *sshMachines) Create(ctx context.Context, spec localcloud.MachineSpec) (string, error) {
	ip, err := m.Machines.Create(ctx, spec)
	if err != nil {
		return "", err
	}
	var ud struct {
		SSHKeys map[string]string `yaml:"ssh_keys"`
	}
	opts := sshtest.Options{Handler: m.fakeMachine}
	if yaml.Unmarshal([]byte(spec.UserData), &ud) == nil && ud.SSHKeys["ed25519_private"] != "" {
		if opts.HostKey, err = ssh.ParsePrivateKey([]byte(ud.SSHKeys["ed25519_private"])); err != nil {
			return "", fmt.Errorf("user_data host key: %w", err)
		}
	}
	for _, k := range spec.SSHKeys {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
		if err != nil {
			return "", err
		}
		opts.AuthorizedKeys = append(opts.AuthorizedKeys, pk)
	}
	if opts.AuthorizedKeys == nil {
		opts.AuthorizedKeys = []ssh.PublicKey{} // none: nobody logs in
	}
	s, err := sshtest.Start(opts)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	m.servers[ip] = s
	m.mu.Unlock()
	m.t.Cleanup(func() { s.Close() })
	return ip, nil
}

// dial routes a droplet's address to its server.
func (m *sshMachines) dial(ctx context.Context, addr string) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(addr)
	m.mu.Lock()
	s := m.servers[host]
	m.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("dial %s: no machine has that address", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.Addr())
}

// fakeMachine answers what the build asks a booted, clean Debian droplet.
func (m *sshMachines) fakeMachine(cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
	io.Copy(io.Discard, stdin) // an upload streams into its command; every other command's stdin is closed at once
	switch {
	case strings.Contains(cmd, "@@MPI@@"): // imagecheck's collect script
		stdout.Write(m.facts)
	case strings.Contains(cmd, "mp-image-scan."): // imagecheck's secret scan: nothing found
		io.WriteString(stdout, "files\t15000\nunreadable\t0\nend\n")
	case strings.Contains(cmd, "cloud-init status --wait"):
		io.WriteString(stdout, "0\n")
	case strings.Contains(cmd, "echo ready"):
		io.WriteString(stdout, "ready\n")
	case strings.Contains(cmd, "tar --version"):
		io.WriteString(stdout, "tar (GNU tar) 1.34\n")
	}
	return 0
}

type matrixCase struct {
	mode                             string
	host, token, template            bool
	keep, bootTest, submit, failHost bool
}

func (c matrixCase) String() string {
	var parts []string
	parts = append(parts, c.mode)
	for _, f := range []struct {
		on   bool
		name string
	}{{c.host, "host"}, {c.token, "token"}, {c.template, "template"}, {c.keep, "keep"}, {c.bootTest, "boot"}, {c.submit, "submit"}} {
		if f.on {
			parts = append(parts, f.name)
		}
	}
	return strings.Join(parts, "+")
}

// TestModeMatrix runs every combination of mode, target (droplet or --host),
// token, recipe or Packer template, keep-droplet, boot-test and submit to
// the end, on the API-only local cloud with an in-process SSH server per
// droplet. Whatever combination: no panic, no step without what it needs
// (the runner fails such a step as an internal error), and every resource
// made is gone or kept on purpose: a kept droplet, the --host droplet, the
// snapshot of a build_image.
func TestModeMatrix(t *testing.T) {
	facts, err := os.ReadFile(filepath.Join("..", "imagecheck", "testdata", "collect-debian12.out"))
	if err != nil {
		t.Skip("imagecheck's collect fixture is missing: " + err.Error())
	}
	var cases []matrixCase
	for _, mode := range []string{config.ModeBuildImage, config.ModeBuildBase} {
		for bits := 0; bits < 64; bits++ {
			c := matrixCase{mode: mode, host: bits&1 != 0, token: bits&2 != 0, template: bits&4 != 0,
				keep: bits&8 != 0, bootTest: bits&16 != 0, submit: bits&32 != 0}
			if !c.host && !c.token || c.host && c.keep || c.submit && mode == config.ModeBuildBase {
				continue // refused by config.Validate before any build (a droplet needs a token, keep-droplet has no
				// meaning with --host, only a snapshot can be submitted): TestBadInput covers those
			}
			cases = append(cases, c)
		}
	}
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			runMatrixCase(t, c, facts)
		})
	}
}

func runMatrixCase(t *testing.T, c matrixCase, facts []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	machines := &sshMachines{Machines: localcloud.NoMachines(), t: t, facts: facts, servers: map[string]*sshtest.Server{}}
	srv := startCloud(t, localcloud.Options{TimeScale: 0.0005, Machines: machines,
		VendorApps: []localcloud.VendorApp{{ID: "app", Name: "App", Token: testToken, State: localcloud.AppApproved}}})
	cfg, _, err := config.Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Mode, cfg.APIURL, cfg.Image, cfg.FailOn, cfg.SecureErase = c.mode, srv.URL(), "debian-12-x64", "never", false
	cfg.KeepDroplet, cfg.BootTest = c.keep, c.bootTest
	if c.submit {
		cfg.SubmitAppID, cfg.SubmitVersion = "app", "1.0"
	}
	cfg.Dir = "matrix" // the plan below stands for what it holds
	if c.token {
		cfg.Token = testToken
	}
	plan := &recipe.Plan{Source: "recipe:matrix", Actions: []recipe.Action{
		{Kind: recipe.KindShell, Name: "scripts/10-app.sh", Script: []byte("#!/bin/sh\necho app\n")},
	}}
	if c.template {
		dir := t.TempDir()
		plan.Source, cfg.Dir, cfg.PackerTemplate = "packer:matrix.json", "", "matrix.json"
		plan.Builder = recipe.Builder{Name: "matrix", SSHUsername: "root", SnapshotName: "matrix-{{timestamp}}"}
		plan.Manifest = filepath.Join(dir, "packer-manifest.json")
		cfg.SnapshotName = "matrix-" + strings.ReplaceAll(c.String(), "+", "-") // the template's, rendered
	}

	var hostDroplet int
	if c.host {
		// The user's own droplet, reached with the user's own key.
		kp, err := remote.NewKeyPair("user")
		if err != nil {
			t.Fatal(err)
		}
		keyFile := filepath.Join(t.TempDir(), "id")
		if err := kp.WritePrivateKey(keyFile); err != nil {
			t.Fatal(err)
		}
		g := testutil.Godo(srv.URL(), testToken)
		key, _, err := g.Keys.Create(ctx, &godo.KeyCreateRequest{Name: "user", PublicKey: kp.AuthorizedKey})
		if err != nil {
			t.Fatal(err)
		}
		d, _, err := g.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "users-server", Region: "nyc3", Size: "s-1vcpu-1gb",
			Image: godo.DropletCreateImage{Slug: "debian-12-x64"}, SSHKeys: []godo.DropletCreateSSHKey{{ID: key.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		hostDroplet = d.ID
		for d.Status != "active" {
			time.Sleep(10 * time.Millisecond)
			if d, _, err = g.Droplets.Get(ctx, d.ID); err != nil {
				t.Fatal(err)
			}
		}
		ip, _ := d.PublicIPv4()
		cfg.Host, cfg.SSHKey = ip, keyFile
	}
	if err := config.Validate(cfg); err != nil {
		t.Fatalf("the case is valid input: %v", err)
	}

	var out testutil.SyncBuffer
	b, err := newBuild(cfg, plan, report.NewConsole(&out, false, nil), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	b.dial = machines.dial
	runErr := b.execute(ctx)
	log := out.String()
	if runErr != nil {
		t.Fatalf("build failed: %v\n%s", runErr, log)
	}
	for _, r := range b.Records {
		if strings.Contains(r.Detail, "panic") || strings.Contains(r.Detail, "internal error") {
			t.Errorf("step %q: %s", r.Name, r.Detail)
		}
	}

	// What is left must be exactly what is kept on purpose.
	wantSnapshot := c.mode == config.ModeBuildImage && c.token
	live := func(kind string) map[string]bool {
		m := map[string]bool{}
		for _, r := range srv.Ledger().Live(kind) {
			m[r.ID] = true
		}
		return m
	}
	droplets, keys, snaps := live(localcloud.KindDroplet), live(localcloud.KindKey), live(localcloud.KindSnapshot)
	wantDroplets := 0
	if c.host {
		wantDroplets++
		if !droplets[fmt.Sprint(hostDroplet)] {
			t.Errorf("the --host droplet %d was deleted", hostDroplet)
		}
	}
	if c.keep && !c.host {
		wantDroplets++
		if b.Droplet == nil || !droplets[fmt.Sprint(b.Droplet.ID)] || !b.Kept {
			t.Errorf("keep-droplet: the build droplet is not kept (%v)", b.Droplet)
		}
	}
	if len(droplets) != wantDroplets {
		t.Errorf("%d droplets left, want %d: %v", len(droplets), wantDroplets, droplets)
	}
	wantKeys := 0
	if c.host {
		wantKeys = 1 // the user's own
	}
	if len(keys) != wantKeys {
		t.Errorf("%d account keys left, want %d", len(keys), wantKeys)
	}
	if wantSnapshot != (b.Snapshot != nil) || len(snaps) != map[bool]int{true: 1, false: 0}[wantSnapshot] {
		t.Errorf("snapshot %v, %d left; want one: %v", b.Snapshot, len(snaps), wantSnapshot)
	}
	if c.host && c.token && c.mode == config.ModeBuildImage {
		d, _, err := testutil.Godo(srv.URL(), testToken).Droplets.Get(ctx, hostDroplet)
		if err != nil || d.Status != "off" {
			t.Errorf("the --host droplet after build_image: %v, want it powered off (err %v)", d.Status, err)
		}
	}
	if c.template && wantSnapshot {
		if _, err := os.Stat(plan.Manifest); err != nil {
			t.Errorf("the template's manifest post-processor wrote nothing: %v", err)
		}
	}
	if c.submit && wantSnapshot && b.Submitted == "" {
		t.Errorf("submit-app-id set, but nothing was submitted")
	}
}
