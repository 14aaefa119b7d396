//go:build linux

package nspawn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
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
