package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/remote"
)

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func godoWithToken(url, token string) *godo.Client {
	c, err := godo.New(&http.Client{Transport: bearer{token}}, godo.SetBaseURL(url))
	if err != nil {
		panic(err)
	}
	return c
}

type result struct {
	stdout, stderr string
	code           int
}

// runBin runs the real binary with exactly the given environment (plus PATH).
func runBin(t *testing.T, extraEnv map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.bin, args...)
	cmd.Dir = env.root
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range extraEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running mp-image: %v", err)
	}
	r := result{so.String(), se.String(), code}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mp-image %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), tail(r.stdout, 80), tail(r.stderr, 40))
		}
	})
	return r
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// apiArgs points a build at the shared emulator.
func apiArgs() []string {
	return []string{"--api-url", env.srv.URL(), "--token", env.token, "--image", "debian-12-x64", "--secure-erase=false"}
}

// liveCount is how many droplets and keys exist now.
func liveCount() (droplets, keys int) {
	return len(env.srv.Ledger().Live(localcloud.KindDroplet)), len(env.srv.Ledger().Live(localcloud.KindKey))
}

// requireNothingLeft fails when the test leaves droplets or keys behind.
func requireNothingLeft(t *testing.T) {
	t.Helper()
	d, k := liveCount()
	if d != 0 || k != 0 {
		t.Fatalf("left behind: %d droplets, %d keys: %+v", d, k, append(env.srv.Ledger().Live(localcloud.KindDroplet), env.srv.Ledger().Live(localcloud.KindKey)...))
	}
}

// testDroplet is a droplet the test makes (e.g. from a snapshot) with its
// own key and a pinned host key.
type testDroplet struct {
	id      int
	ip      string
	signer  ssh.Signer
	hostKey ssh.PublicKey
	key     *remote.KeyPair
	client  *ssh.Client // reused by run
}

func bootFrom(t *testing.T, image int, name string) *testDroplet {
	t.Helper()
	return boot(t, godo.DropletCreateImage{ID: image}, name)
}

func boot(t *testing.T, image godo.DropletCreateImage, name string) *testDroplet {
	t.Helper()
	ctx := context.Background()
	kp, err := remote.NewKeyPair("e2e")
	if err != nil {
		t.Fatal(err)
	}
	hk, err := remote.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := env.godo.Keys.Create(ctx, &godo.KeyCreateRequest{Name: "e2e-" + name, PublicKey: kp.AuthorizedKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.godo.Keys.DeleteByID(ctx, key.ID) })
	d, _, err := env.godo.Droplets.Create(ctx, &godo.DropletCreateRequest{
		Name: name, Region: "nyc3", Size: "s-1vcpu-1gb", Image: image,
		SSHKeys: []godo.DropletCreateSSHKey{{ID: key.ID}}, UserData: hk.CloudConfig(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.godo.Droplets.Delete(ctx, d.ID) })
	deadline := time.Now().Add(3 * time.Minute)
	for {
		d, _, err = env.godo.Droplets.Get(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == "active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("droplet %d not active after 3 minutes", d.ID)
		}
		time.Sleep(300 * time.Millisecond)
	}
	ip, _ := d.PublicIPv4()
	return &testDroplet{id: d.ID, ip: ip, signer: kp.Signer, hostKey: hk.Public, key: kp}
}

func (d *testDroplet) dial(t *testing.T) *ssh.Client {
	t.Helper()
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(d.signer)},
		HostKeyCallback: ssh.FixedHostKey(d.hostKey), Timeout: 5 * time.Second}
	// First boot on a loaded machine (MariaDB's first start, per-instance
	// scripts restarting ssh) can keep sshd away for minutes.
	// New connections are spaced 7 s apart: images with `ufw limit ssh`
	// reject an address that opens 6 in 30 s, and retries keep it locked out.
	deadline := time.Now().Add(8 * time.Minute)
	for {
		c, err := ssh.Dial("tcp", net.JoinHostPort(d.ip, "22"), cfg)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh to %s: %v", d.ip, err)
		}
		time.Sleep(7 * time.Second)
	}
}

// run runs a command and returns its combined output.
// One connection per droplet is reused (see dial about ufw's limit).
func (d *testDroplet) run(t *testing.T, cmd string) (string, error) {
	t.Helper()
	if d.client == nil {
		d.client = d.dial(t)
		t.Cleanup(func() {
			if d.client != nil {
				d.client.Close()
			}
		})
	}
	s, err := d.client.NewSession()
	if err != nil {
		d.client.Close()
		d.client = nil
		return "", err
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	return string(out), err
}

// loginShell opens an interactive login shell on a terminal, as a person
// does, leaves it, and returns what it printed. The way out is typed until
// the shell has read it, so a slow start cannot swallow it.
func (d *testDroplet) loginShell(t *testing.T) string {
	t.Helper()
	c := d.dial(t)
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm", 40, 120, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
		t.Fatal(err)
	}
	stdin, _ := s.StdinPipe()
	var out syncBuffer
	s.Stdout, s.Stderr = &out, &out
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return out.String()
		case <-deadline:
			t.Fatalf("login shell did not exit; it printed:\n%s", out.String())
		case <-tick.C:
			io.WriteString(stdin, "exit\n")
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFirstBoot waits until the per-instance scripts ran and root gets a
// normal shell (the "please wait" ForceCommand is gone).
func (d *testDroplet) waitFirstBoot(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, _ := d.run(t, "echo ready")
		if strings.TrimSpace(out) == "ready" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("first boot of droplet %d not done after 5 minutes: %q", d.id, out)
		}
		// sshd applies its config per connection: ask again on a new one,
		// since this one keeps the "please wait" ForceCommand.
		if d.client != nil {
			d.client.Close()
			d.client = nil
		}
		time.Sleep(7 * time.Second)
	}
}

func atoi(s string) int {
	var n int
	fmt.Sscanf(strings.TrimSpace(s), "%d", &n)
	return n
}

func itoa(n int) string { return fmt.Sprint(n) }

func mustKey(t *testing.T) string {
	t.Helper()
	k, err := remote.NewKeyPair("e2e")
	if err != nil {
		t.Fatal(err)
	}
	return k.AuthorizedKey
}
