package nspawn

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// needMachines skips tests that boot real machines where this host cannot.
func needMachines(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("skipping: this test boots real systemd-nspawn machines: %v", err)
	}
}

// newTestBackend makes a backend whose Close runs at test end and asserts
// that nothing of it remains on the host.
func newTestBackend(t testing.TB) *Backend {
	t.Helper()
	needMachines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b, err := New(ctx, Options{Logf: t.Logf})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	prefix, state := b.Prefix(), b.StateDir()
	t.Cleanup(func() {
		if err := b.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if left := Leftovers(prefix, state); len(left) > 0 {
			t.Errorf("after Close, still on the host:\n%s", strings.Join(left, "\n"))
		}
	})
	if err := b.EnsureBaseImage(ctx, "debian-12-x64"); err != nil {
		t.Fatalf("EnsureBaseImage: %v", err)
	}
	return b
}

// keyPair is an ed25519 key as a signer plus its authorized_keys line and
// its OpenSSH private PEM (for cloud-config ssh_keys).
type keyPair struct {
	signer     ssh.Signer
	authorized string
	privatePEM string
}

func newKeyPair(t testing.TB) keyPair {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{
		signer:     signer,
		authorized: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))),
		privatePEM: string(pem.EncodeToMemory(block)),
	}
}

// dialRoot connects as root, retrying through the boot (sshd comes up,
// then cloud-init restarts it: reset, refused, then up for good). It
// returns the host key the machine presented.
func dialRoot(ctx context.Context, t testing.TB, ip string, key ssh.Signer) (*ssh.Client, ssh.PublicKey) {
	t.Helper()
	var hostKey ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			hostKey = k
			return nil
		},
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           3 * time.Second,
	}
	var last error
	for ctx.Err() == nil {
		c, err := ssh.Dial("tcp", net.JoinHostPort(ip, "22"), cfg)
		if err == nil {
			return c, hostKey
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("ssh root@%s: %v (last error: %v)", ip, ctx.Err(), last)
	return nil, nil
}

// sshRun runs cmd and returns its stdout; stderr goes into the error.
func sshRun(c *ssh.Client, cmd string) (string, error) {
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	if err := s.Run(cmd); err != nil {
		return out.String(), fmt.Errorf("%q: %w: %s", cmd, err, errb.String())
	}
	return out.String(), nil
}

// systemState waits for boot to finish and returns systemd's verdict, with
// the failed units named when it is not "running".
func systemState(t testing.TB, c *ssh.Client) string {
	t.Helper()
	// cloud-init status --wait exits 2 for recoverable errors; its own
	// output says which.
	if out, err := sshRun(c, "cloud-init status --wait --long"); err != nil {
		t.Logf("cloud-init status: %v\n%s", err, out)
	}
	state, _ := sshRun(c, "systemctl is-system-running --wait")
	state = strings.TrimSpace(state)
	if state != "running" {
		failed, _ := sshRun(c, "systemctl --failed --no-legend --plain")
		return state + ": failed units: " + strings.TrimSpace(failed)
	}
	return state
}
