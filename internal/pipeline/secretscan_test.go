package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/remote/sshtest"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// The validate step searches the disk for the build's own secrets (here a
// fixture tree the in-process server confines the scripts to) and, in
// build_image, stops before the snapshot on a hit whatever fail-on says,
// naming the file; no output or report holds the value, no command line
// either.
func TestValidateStopsOnTheBuildsSecrets(t *testing.T) {
	const token = "dop_v1_pipeline-secret-scan-0123456789"
	for _, tc := range []struct {
		mode    string
		wantErr bool
	}{{config.ModeBuildImage, true}, {config.ModeBuildBase, false}} {
		t.Run(tc.mode, func(t *testing.T) {
			root := t.TempDir()
			for p, body := range map[string]string{
				"etc/passwd":     "root:x:0:0:root:/root:/bin/bash\n",
				"etc/os-release": "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n",
				// A recipe script that kept the token for the application.
				"opt/app/config": "API_TOKEN=" + token + "\n",
			} {
				full := filepath.Join(root, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			kp, err := remote.NewKeyPair("t")
			if err != nil {
				t.Fatal(err)
			}
			hk, err := remote.NewHostKey()
			if err != nil {
				t.Fatal(err)
			}
			s := sshtest.New(t, sshtest.Options{AuthorizedKeys: []ssh.PublicKey{kp.Signer.PublicKey()}, Dir: t.TempDir(),
				Env: []string{"MPI_ROOT=" + root}})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := remote.Dial(ctx, remote.Config{Addr: s.Addr(), Signer: kp.Signer, HostKey: s.HostKey(), DialTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var out bytes.Buffer
			reportPath := filepath.Join(t.TempDir(), "report.json")
			b := &Build{Cfg: &config.Config{Token: token, Mode: tc.mode, FailOn: "never", Report: reportPath},
				SSH: c, Key: kp, HostKey: hk, IP: "10.0.0.2", Logf: t.Logf, Out: report.NewConsole(&out, false, nil)}
			err = (validate{}).Run(ctx, b)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "/opt/app/config") || !strings.Contains(err.Error(), "no snapshot is taken") {
					t.Fatalf("err = %v, want the file named and the snapshot refused even under fail-on=never", err)
				}
			} else if err != nil {
				t.Fatalf("build_base: %v (validation is a report there)", err)
			}
			var got *imagecheck.Result
			for i, x := range b.Validation.Results {
				if x.ID == imagecheck.SecretsID {
					got = &b.Validation.Results[i]
				}
			}
			if got == nil || got.Status != imagecheck.Fail || len(got.Details) == 0 || got.Details[0] != "/opt/app/config: the API token" {
				t.Fatalf("build-secrets result = %+v", got)
			}
			raw, err := os.ReadFile(reportPath)
			if err != nil {
				t.Fatal(err)
			}
			var rep struct{ Verdict string }
			if err := json.Unmarshal(raw, &rep); err != nil || rep.Verdict != "fail" {
				t.Errorf("report verdict %q (%v), want fail", rep.Verdict, err)
			}
			for what, blob := range map[string]string{"console": out.String(), "report": string(raw), "commands": strings.Join(s.Commands(), "\n")} {
				if strings.Contains(blob, token) {
					t.Errorf("the token appears in the %s", what)
				}
				for _, l := range strings.Split(string(kp.PrivateKeyPEM())+string(hk.PrivateKeyPEM()), "\n") {
					if len(l) > 20 && !strings.HasPrefix(l, "-----") && strings.Contains(blob, l) {
						t.Errorf("a private key line appears in the %s", what)
					}
				}
			}
			if !strings.Contains(out.String(), "/opt/app/config: the API token") {
				t.Errorf("the console does not name the file:\n%s", out.String())
			}
		})
	}
}

func TestBuildSecrets(t *testing.T) {
	kp, _ := remote.NewKeyPair("t")
	hk, _ := remote.NewHostKey()
	keyFile := filepath.Join(t.TempDir(), "id")
	if err := kp.WritePrivateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	b := &Build{Cfg: &config.Config{Token: "tok-0123456789", SecretEnvValues: map[string]string{"DB_PASS": "pw-0123456789", "API_KEY": "k-0123456789"}},
		Key: kp, HostKey: hk}
	names := func(b *Build) string {
		var n []string
		for _, s := range buildSecrets(b) {
			n = append(n, s.Name)
		}
		return strings.Join(n, ", ")
	}
	if got, want := names(b), "the API token, the build key's private half, the pinned host key's private half, secret-env API_KEY, secret-env DB_PASS"; got != want {
		t.Errorf("droplet build: %s, want %s", got, want)
	}
	host := &Build{Cfg: &config.Config{Host: "10.0.0.9", SSHKey: keyFile}}
	if got, want := names(host), "the --ssh-key private key"; got != want {
		t.Errorf("--host build without a token: %s, want %s", got, want)
	}
}
