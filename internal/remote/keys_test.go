package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
)

func TestNewKeyPair(t *testing.T) {
	k, err := NewKeyPair("mp-image run 42")
	if err != nil {
		t.Fatal(err)
	}
	pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(k.AuthorizedKey))
	if err != nil {
		t.Fatalf("AuthorizedKey %q does not parse: %v", k.AuthorizedKey, err)
	}
	if string(pub.Marshal()) != string(k.Signer.PublicKey().Marshal()) {
		t.Error("AuthorizedKey is not the signer's public key")
	}
	if pub.Type() != ssh.KeyAlgoED25519 {
		t.Errorf("key type %s, want ed25519", pub.Type())
	}
	if comment != "mp-image_run_42" {
		t.Errorf("comment %q, want spaces folded so the line stays one key", comment)
	}
	if !regexp.MustCompile(`^([0-9a-f]{2}:){15}[0-9a-f]{2}$`).MatchString(k.Fingerprint()) {
		t.Errorf("fingerprint %q is not the MD5 colon form", k.Fingerprint())
	}
	if strings.Contains(k.String(), "PRIVATE") {
		t.Error("String() leaks the private key")
	}
	// The MD5 form must be what ssh-keygen (and DigitalOcean) compute.
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		f := filepath.Join(t.TempDir(), "k.pub")
		os.WriteFile(f, []byte(k.AuthorizedKey+"\n"), 0o600)
		out, err := exec.Command("ssh-keygen", "-l", "-E", "md5", "-f", f).Output()
		if err != nil {
			t.Fatalf("ssh-keygen: %v", err)
		}
		if !strings.Contains(string(out), "MD5:"+k.Fingerprint()) {
			t.Errorf("ssh-keygen says %q, we say %s", out, k.Fingerprint())
		}
	}
}

func TestWriteAndLoadPrivateKey(t *testing.T) {
	k, err := NewKeyPair("c")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := k.WritePrivateKey(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	s, err := LoadPrivateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.PublicKey().Marshal()) != string(k.Signer.PublicKey().Marshal()) {
		t.Error("loaded key differs from the written one")
	}
	if err := k.WritePrivateKey(p); err == nil {
		t.Error("overwrote an existing key file")
	}
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		// OpenSSH itself must accept the file (keep-droplet users run ssh -i).
		out, err := exec.Command("ssh-keygen", "-y", "-f", p).Output()
		if err != nil || !strings.HasPrefix(k.AuthorizedKey, strings.TrimSpace(string(out))) {
			t.Errorf("ssh-keygen -y: %q, %v", out, err)
		}
	}
}

func TestLoadPrivateKeyErrors(t *testing.T) {
	dir := t.TempDir()
	enc := filepath.Join(dir, "enc")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "secret-pass", "-f", enc).CombinedOutput(); err != nil {
		t.Skipf("ssh-keygen not usable to make an encrypted key: %v %s", err, out)
	}
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not a key"), 0o600)
	for _, tc := range []struct{ name, path, want string }{
		{"encrypted", enc, "encrypted with a passphrase"},
		{"garbage", garbage, "not a private key"},
		{"missing", filepath.Join(dir, "nope"), "read SSH private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadPrivateKey(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-pass") {
				t.Error("error shows the passphrase")
			}
		})
	}
}

func TestHostKeyCloudConfig(t *testing.T) {
	h, err := NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	cc := h.CloudConfig()
	if !strings.HasPrefix(cc, "#cloud-config\n") {
		t.Fatalf("no #cloud-config header:\n%s", cc)
	}
	var doc struct {
		DeleteKeys  *bool             `yaml:"ssh_deletekeys"`
		GenKeyTypes *[]string         `yaml:"ssh_genkeytypes"`
		Keys        map[string]string `yaml:"ssh_keys"`
	}
	if err := yaml.Unmarshal([]byte(cc), &doc); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, cc)
	}
	if doc.DeleteKeys == nil || !*doc.DeleteKeys || doc.GenKeyTypes == nil || len(*doc.GenKeyTypes) != 0 {
		t.Errorf("ssh_deletekeys/ssh_genkeytypes wrong:\n%s", cc)
	}
	priv, err := ssh.ParsePrivateKey([]byte(doc.Keys["ed25519_private"]))
	if err != nil {
		t.Fatalf("ed25519_private does not parse: %v", err)
	}
	if string(priv.PublicKey().Marshal()) != string(h.Public.Marshal()) {
		t.Error("private key in cloud-config is not the pinned key")
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(doc.Keys["ed25519_public"]))
	if err != nil || string(pub.Marshal()) != string(h.Public.Marshal()) {
		t.Errorf("ed25519_public wrong: %v", err)
	}
	if len(doc.Keys) != 2 {
		t.Errorf("ssh_keys has %d entries, want 2", len(doc.Keys))
	}
	if strings.Contains(h.String(), "PRIVATE") {
		t.Error("String() leaks the private key")
	}
}
