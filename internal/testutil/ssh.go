package testutil

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// DialRoot connects to ip as root, retrying through the boot (sshd comes
// up, then cloud-init restarts it: reset, refused, then up for good). It
// returns the ed25519 host key the machine presented, for tests that pin or
// compare it.
func DialRoot(ctx context.Context, t testing.TB, ip string, key ssh.Signer) (*ssh.Client, ssh.PublicKey) {
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

// SSHRun runs cmd and returns its stdout; stderr goes into the error.
func SSHRun(c *ssh.Client, cmd string) (string, error) {
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

// SystemState waits for boot to finish and returns systemd's verdict, with
// the failed units named when it is not "running".
func SystemState(t testing.TB, c *ssh.Client) string {
	t.Helper()
	// cloud-init status --wait exits 2 for recoverable errors; its own
	// output says which.
	if out, err := SSHRun(c, "cloud-init status --wait --long"); err != nil {
		t.Logf("cloud-init status: %v\n%s", err, out)
	}
	state, _ := SSHRun(c, "systemctl is-system-running --wait")
	state = strings.TrimSpace(state)
	if state != "running" {
		failed, _ := SSHRun(c, "systemctl --failed --no-legend --plain")
		return state + ": failed units: " + strings.TrimSpace(failed)
	}
	return state
}
