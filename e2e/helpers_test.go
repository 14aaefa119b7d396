package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
	"github.com/mp-image-action/mp-image-action/internal/testutil/cloudenv"
)

type result struct {
	stdout, stderr string
	code           int
}

// runBin runs the real binary with exactly the given environment (plus PATH).
func runBin(t *testing.T, extraEnv map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	cmd := testutil.Command(ctx, env.bin, env.root, extraEnv, args...)
	// The builds' log files go where the run's temporary files go, removed at its end.
	cmd.Env = append([]string{"TMPDIR=" + env.tmp}, cmd.Env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code, ok := testutil.ExitCode(err)
	if !ok {
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

var tail = testutil.Tail

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
	d := cloudenv.Boot(t, env.godo, image, name)
	return &testDroplet{id: d.ID, ip: d.IP, signer: d.Key.Signer, hostKey: d.Host.Public, key: d.Key}
}

func (d *testDroplet) dial(t *testing.T) *ssh.Client {
	t.Helper()
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(d.signer)},
		HostKeyCallback: ssh.FixedHostKey(d.hostKey), Timeout: 5 * time.Second}
	if d.hostKey == nil {
		// bootUnpinned: the droplet makes its own host keys, which the test reads.
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey()
	}
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
			t.Fatalf("ssh to %s: %v\n%s", d.ip, err, diagnose(d.id))
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
	var out testutil.SyncBuffer
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

// diagnose says, through the host, why droplet id does not answer SSH:
// sshd's unit, the journal, listeners, the firewall's counters. Every SSH
// timeout in a test prints it, so a flake explains itself.
func diagnose(id int) string {
	if env.backend == nil {
		return "(no machine backend to ask)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return env.backend.Diagnose(ctx, id)
}
