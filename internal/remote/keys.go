package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// KeyPair is a throw-away client key: its public half becomes a DigitalOcean
// account key for one build, its private half stays in memory.
type KeyPair struct {
	Signer        ssh.Signer
	AuthorizedKey string // "ssh-ed25519 AAAA... comment", no trailing newline
	privatePEM    []byte
}

// NewKeyPair makes an ed25519 client key; comment ends the authorized_keys line.
func NewKeyPair(comment string) (*KeyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 client key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("client key signer: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("encode client key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("client public key: %w", err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	if c := oneLine(comment); c != "" {
		line += " " + c
	}
	return &KeyPair{Signer: signer, AuthorizedKey: line, privatePEM: pem.EncodeToMemory(block)}, nil
}

// oneLine keeps a key comment from breaking the authorized_keys line format.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), "_")
}

// WritePrivateKey saves the private key in OpenSSH format with mode 0600.
// Only keep-droplet needs it: a key on disk outlives the build.
func (k *KeyPair) WritePrivateKey(path string) error {
	// O_EXCL: never overwrite (and never widen the mode of) a file someone else made.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("save private key (choose a path that does not exist yet): %w", err)
	}
	if _, err := f.Write(k.privatePEM); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("save private key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("save private key %s: %w", path, err)
	}
	return nil
}

// PrivateKeyPEM is the private key in OpenSSH format, for the secret scan that
// makes sure no copy of it is left in the image. Never print it.
func (k *KeyPair) PrivateKeyPEM() []byte { return k.privatePEM }

// Fingerprint is the MD5 colon form ("aa:bb:..."), the one DigitalOcean's
// API reports for account keys and accepts in ssh_keys.
func (k *KeyPair) Fingerprint() string {
	return ssh.FingerprintLegacyMD5(k.Signer.PublicKey())
}

// String never shows private material, so a KeyPair is safe in %v.
func (k *KeyPair) String() string {
	return "KeyPair(" + ssh.FingerprintSHA256(k.Signer.PublicKey()) + ")"
}

// LoadPrivateKey reads an unencrypted private key (OpenSSH, PEM PKCS#1/PKCS#8).
func LoadPrivateKey(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read SSH private key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, fmt.Errorf("SSH private key %s is encrypted with a passphrase: give an unencrypted key (for example a copy made with `ssh-keygen -p -N \"\" -f COPY`)", path)
	case err != nil:
		return nil, fmt.Errorf("SSH private key %s: not a private key this tool can read (%v): give an OpenSSH or PEM private key file", path, err)
	}
	return signer, nil
}

// HostKey is the droplet's SSH host key, made here and delivered through
// user_data so the first connection can already pin it.
type HostKey struct {
	Public     ssh.PublicKey
	privatePEM []byte
}

// NewHostKey makes an ed25519 host key.
func NewHostKey() (*HostKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 host key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("host key signer: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, fmt.Errorf("encode host key: %w", err)
	}
	return &HostKey{Public: signer.PublicKey(), privatePEM: pem.EncodeToMemory(block)}, nil
}

// PrivateKeyPEM is the host key's private half in OpenSSH format, for the
// secret scan that makes sure no copy of it is left in the image. Never print it.
func (h *HostKey) PrivateKeyPEM() []byte { return h.privatePEM }

// Fingerprint is the SHA256 form ssh prints ("SHA256:...").
func (h *HostKey) Fingerprint() string { return ssh.FingerprintSHA256(h.Public) }

// String never shows private material, so a HostKey is safe in %v.
func (h *HostKey) String() string { return "HostKey(" + h.Fingerprint() + ")" }

// CloudConfig is the cloud-config that installs this host key: other key
// types are deleted and none generated, so the droplet can only present ours.
func (h *HostKey) CloudConfig() string {
	var b strings.Builder
	b.WriteString("#cloud-config\nssh_deletekeys: true\nssh_genkeytypes: []\nssh_keys:\n  ed25519_private: |\n")
	for _, l := range strings.Split(strings.TrimRight(string(h.privatePEM), "\n"), "\n") {
		b.WriteString("    ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString("  ed25519_public: ")
	b.WriteString(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(h.Public))))
	b.WriteByte('\n')
	return b.String()
}
