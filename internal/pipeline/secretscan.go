package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/remote"
)

// buildSecrets is every secret this build handled: none of them may be on
// the disk a snapshot is taken of.
func buildSecrets(b *Build) []imagecheck.Secret {
	var out []imagecheck.Secret
	add := func(name, value string) {
		if strings.TrimSpace(value) != "" {
			out = append(out, imagecheck.Secret{Name: name, Value: value})
		}
	}
	add("the API token", b.Cfg.Token)
	if b.Key != nil {
		add("the build key's private half", string(b.Key.PrivateKeyPEM()))
	}
	if b.HostKey != nil {
		add("the pinned host key's private half", string(b.HostKey.PrivateKeyPEM()))
	}
	if b.Cfg.Host != "" && b.Cfg.SSHKey != "" {
		// --host: the key the user gave logs into the server; its copy there is a leak too.
		if pk, err := os.ReadFile(b.Cfg.SSHKey); err == nil {
			add("the --ssh-key private key", string(pk))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b.Cfg.SecretEnvValues)) {
		add("secret-env "+k, b.Cfg.SecretEnvValues[k])
	}
	if b.Plan != nil {
		for _, s := range b.Plan.Builder.Sensitive {
			if s != b.Cfg.Token {
				add("a Packer sensitive variable", s)
			}
		}
	}
	return out
}

// scanSecrets searches the droplet's disk for buildSecrets; nil when there
// was nothing to search for.
func scanSecrets(ctx context.Context, b *Build) (*imagecheck.SecretScan, error) {
	return imagecheck.ScanSecrets(ctx, inputRunner{b}, imagecheck.ScanOptions{Secrets: buildSecrets(b), Mode: b.Cfg.Mode})
}

// secretsOnDisk is the error that stops a build_image whose disk holds the
// build's own secrets in files: whatever fail-on says, no snapshot may carry them.
func secretsOnDisk(files []string) error {
	return fmt.Errorf("the build's own secrets are on the droplet's disk (%s): no snapshot is taken; make the recipe stop writing them to files",
		strings.Join(files, ", "))
}

// inputRunner runs the scan over the build's connection with its patterns on
// stdin, never on the droplet's command line.
type inputRunner struct{ b *Build }

func (r inputRunner) Input(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	var out bytes.Buffer
	var errs []string
	err := r.b.SSH.Run(ctx, cmd, remote.RunOptions{
		Name:        "secret scan",
		Stdin:       stdin,
		Stdout:      func(l string) { out.WriteString(l + "\n") },
		Stderr:      func(l string) { errs = append(errs, l) },
		IdleTimeout: idle(r.b),
	})
	if err != nil && len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", strings.Join(errs, "; "), err)
	}
	return out.Bytes(), err
}
