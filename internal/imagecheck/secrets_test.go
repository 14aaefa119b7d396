package imagecheck

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// inputRunner runs the scan on this host with sh, recording what it was given.
type inputRunner struct {
	cmds, stdouts []string
}

func (r *inputRunner) Input(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Stdin = stdin
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	r.cmds = append(r.cmds, cmd)
	r.stdouts = append(r.stdouts, out.String()+errb.String())
	if err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// newKey returns an OpenSSH private key PEM and its authorized_keys line.
func newKey(t *testing.T, comment string) (privatePEM []byte, seed []byte, public string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), priv.Seed(), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment
}

// cloudConfig is how user_data carries the pinned host key (remote.HostKey.CloudConfig).
func cloudConfig(privatePEM []byte, public string) string {
	var b strings.Builder
	b.WriteString("#cloud-config\nssh_keys:\n  ed25519_private: |\n")
	for _, l := range strings.Split(strings.TrimRight(string(privatePEM), "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	b.WriteString("  ed25519_public: " + public + "\n")
	return b.String()
}

// TestScanSecrets plants the build's secrets in fixture trees the ways a recipe or the
// emulator could leave them, and checks the scan names each file and secret, never the
// value, and has no false positives on public keys and other keys.
func TestScanSecrets(t *testing.T) {
	token := "dop_v1_" + hex.EncodeToString([]byte("sysprep-secret-scan-token-1234"))
	buildPEM, buildSeed, buildPub := newKey(t, "mp-image-build")
	hostPEM, _, hostPub := newKey(t, "")
	otherPEM, _, _ := newKey(t, "someone-else")
	envValue := "license-Xq93-kkd0-PPa1"
	sensitive := "db p@ss/w+rd=17"
	secrets := []Secret{
		{Name: "the API token", Value: token},
		{Name: "the build key's private half", Value: string(buildPEM)},
		{Name: "the pinned host key's private half", Value: string(hostPEM)},
		{Name: "secret env LICENSE", Value: envValue},
		{Name: "secret env SHORT", Value: "abc"},
		{Name: "a Packer sensitive variable", Value: sensitive},
	}
	clean := map[string]string{
		"etc/hostname":                     "droplet\n",
		"root/.ssh/authorized_keys":        buildPub + "\n",
		"etc/ssh/ssh_host_ed25519_key.pub": hostPub + "\n",
		"home/app/.ssh/id_ed25519":         string(otherPEM),
		"usr/share/doc/readme":             "dop_v1_ is how DigitalOcean tokens start\n",
	}
	tests := []struct {
		name    string
		mode    string
		plant   map[string]string
		want    []string // detail lines: "path: secret name"
		fixable bool
	}{
		{name: "clean"},
		{name: "token copied into the app's config", plant: map[string]string{"opt/app/config": "API_TOKEN=" + token + "\n"},
			want: []string{"/opt/app/config: the API token"}},
		{name: "token in a docker auth (base64 at an offset)", plant: map[string]string{
			"root/.docker/config.json": `{"auths":{"registry.digitalocean.com":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("mp:"+token)) + `"}}}`}},
		{name: "a sensitive variable URL-escaped in a query string", plant: map[string]string{"etc/app.env": "URL=https://x/?p=" + url.QueryEscape(sensitive) + "\n"},
			want: []string{"/etc/app.env: a Packer sensitive variable"}},
		{name: "user_data left on disk (the host key in cloud-config)", plant: map[string]string{
			"var/lib/cloud/seed/nocloud/user-data": cloudConfig(hostPEM, hostPub)},
			want: []string{"/var/lib/cloud/seed/nocloud/user-data: the pinned host key's private half"}},
		{name: "the build key copied as a user's key", plant: map[string]string{"home/app/.ssh/id_build": string(buildPEM)},
			want: []string{"/home/app/.ssh/id_build: the build key's private half"}},
		{name: "the build key re-wrapped at 64 columns", plant: map[string]string{"srv/key.pem": rewrap(t, buildPEM, 64)},
			want: []string{"/srv/key.pem: the build key's private half"}},
		{name: "the build key's seed in hex", plant: map[string]string{"srv/seed.hex": hex.EncodeToString(buildSeed) + "\n"},
			want: []string{"/srv/seed.hex: the build key's private half"}},
		{name: "a secret env value in a binary file", plant: map[string]string{"var/lib/app/state.db": "\x00\x01SQLite\x00" + envValue + "\x00\xff"},
			want: []string{"/var/lib/app/state.db: secret env LICENSE"}},
		{name: "two secrets in one file", plant: map[string]string{"opt/app/.env": "T=" + token + "\nL=" + envValue + "\n"},
			want: []string{"/opt/app/.env: the API token, secret env LICENSE"}},
		{name: "host keys in build_base are cleanup-fixable", mode: ModeBuildBase, fixable: true, plant: map[string]string{
			"etc/ssh/ssh_host_ed25519_key":              string(hostPEM),
			"var/lib/cloud/instances/i-1/user-data.txt": cloudConfig(hostPEM, hostPub)},
			want: []string{"/etc/ssh/ssh_host_ed25519_key: the pinned host key's private half",
				"/var/lib/cloud/instances/i-1/user-data.txt: the pinned host key's private half"}},
		{name: "host keys in build_image still fail", plant: map[string]string{"etc/ssh/ssh_host_ed25519_key": string(hostPEM)},
			want: []string{"/etc/ssh/ssh_host_ed25519_key: the pinned host key's private half"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, m := range []map[string]string{clean, tc.plant} {
				for p, body := range m {
					full := filepath.Join(root, p)
					if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(full, []byte(body), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := tc.want
			if want == nil && len(tc.plant) > 0 {
				// Encoded forms: the file is named, with the token.
				for p := range tc.plant {
					want = append(want, "/"+p+": the API token")
				}
			}
			// A directory of this test's own on the memory file system: other scans may run at once.
			shm, err := os.MkdirTemp("/dev/shm", "scan-test-")
			if err != nil {
				t.Skipf("no /dev/shm here: %v", err)
			}
			defer os.RemoveAll(shm)
			r := &inputRunner{}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sc, err := ScanSecrets(ctx, r, ScanOptions{Secrets: secrets, Mode: tc.mode, root: root, tmp: shm})
			if err != nil || sc == nil {
				t.Fatalf("scan: %v %v\n%s", sc, err, strings.Join(r.stdouts, "\n"))
			}
			x := sc.Result
			var wantFiles []string
			for _, w := range want {
				p, _, _ := strings.Cut(w, ": ")
				wantFiles = append(wantFiles, p)
			}
			sort.Strings(wantFiles)
			if strings.Join(sc.Files, "\n") != strings.Join(wantFiles, "\n") {
				t.Errorf("files = %q, want %q", sc.Files, wantFiles)
			}
			// The patterns lived in memory only while the scan ran.
			if left, _ := os.ReadDir(shm); len(left) > 0 {
				t.Errorf("the scan left its pattern directory behind: %v", left)
			} else if !strings.Contains(r.cmds[0], "MPI_SCAN_TMP=") {
				t.Error("the scan was not pointed at the test's directory")
			}
			if x.ID != SecretsID {
				t.Errorf("id %q", x.ID)
			}
			details := strings.Join(x.Details, "\n")
			if len(want) == 0 {
				if x.Status != Pass {
					t.Errorf("status %s, want PASS:\n%s", x.Status, details)
				}
			} else {
				if x.Status != Fail || x.Remedy == "" {
					t.Errorf("status %s remedy %q, want FAIL with a remedy", x.Status, x.Remedy)
				}
				for i, w := range want {
					if i >= len(x.Details) || x.Details[i] != w {
						t.Errorf("details:\n%s\nwant the hits first, exactly:\n%s", details, strings.Join(want, "\n"))
						break
					}
				}
			}
			if x.CleanupFixes != tc.fixable {
				t.Errorf("cleanup_fixes = %v, want %v", x.CleanupFixes, tc.fixable)
			}
			if !strings.Contains(details, "secret env SHORT is shorter than 8 characters and was not searched for") {
				t.Errorf("the short value is not reported by name:\n%s", details)
			}
			if !strings.Contains(details, "searched ") || strings.Contains(details, "searched 0 files") {
				t.Errorf("no file count:\n%s", details)
			}
			// No value on the command line, in the machine's output or in the result.
			rep := &Report{Results: []Result{x}}
			var js bytes.Buffer
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			blobs := append(append([]string{}, r.cmds...), r.stdouts...)
			blobs = append(blobs, js.String(), rep.Markdown())
			for _, b := range blobs {
				for _, s := range []string{token, envValue, sensitive, url.QueryEscape(sensitive), hex.EncodeToString(buildSeed)} {
					if strings.Contains(b, s) {
						t.Errorf("a secret value appears in the scan's command, output or result")
					}
				}
				for _, pemText := range [][]byte{buildPEM, hostPEM} {
					for _, l := range strings.Split(string(pemText), "\n") {
						if len(l) > 20 && !strings.HasPrefix(l, "-----") && strings.Contains(b, l) {
							t.Errorf("a private key line appears in the scan's command, output or result")
						}
					}
				}
			}
		})
	}
}

// rewrap re-encodes a PEM at another line width, as openssl or an editor might.
func rewrap(t *testing.T, pemText []byte, width int) string {
	t.Helper()
	block, _ := pem.Decode(pemText)
	if block == nil {
		t.Fatal("no PEM block")
	}
	body := base64.StdEncoding.EncodeToString(block.Bytes)
	var b strings.Builder
	b.WriteString("-----BEGIN " + block.Type + "-----\n")
	for len(body) > width {
		b.WriteString(body[:width] + "\n")
		body = body[width:]
	}
	b.WriteString(body + "\n-----END " + block.Type + "-----\n")
	return b.String()
}

func TestScanNothingToSearch(t *testing.T) {
	r := &inputRunner{}
	sc, err := ScanSecrets(context.Background(), r, ScanOptions{Secrets: []Secret{{Name: "x", Value: ""}}})
	if sc != nil || err != nil || len(r.cmds) != 0 {
		t.Errorf("scan %v err %v, ran %d commands: want no scan without secrets", sc, err, len(r.cmds))
	}
}

// The patterns are never written to a disk: with no memory file system to hold them the
// scan refuses to run.
func TestScanRefusesDiskForPatterns(t *testing.T) {
	disk := t.TempDir()
	if out, _ := exec.Command("stat", "-f", "-c", "%T", disk).Output(); strings.Contains(string(out), "tmpfs") {
		t.Skipf("%s is on a tmpfs here", disk)
	}
	r := &inputRunner{}
	_, err := ScanSecrets(context.Background(), r, ScanOptions{Secrets: []Secret{{Name: "t", Value: "value-0123456789"}}, root: t.TempDir(), tmp: disk})
	if err == nil {
		t.Fatal("the scan ran with its patterns on a disk")
	}
	if left, _ := os.ReadDir(disk); len(left) > 0 {
		t.Errorf("something was written to the disk directory: %v", left)
	}
}

func TestScanTruncatedOutput(t *testing.T) {
	if _, err := parseScan([]byte("files\t10\nhit\t0\tL29wdA==\n")); err == nil || !strings.Contains(err.Error(), "ends early") {
		t.Errorf("err = %v, want the missing end line reported", err)
	}
}

func TestBase64Forms(t *testing.T) {
	secret := []byte("sysprep-token-0123456789")
	forms := base64Forms(secret, minPattern)
	for _, prefix := range []string{"", "a", "ab", "abc", "user:"} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			e := enc.EncodeToString(append([]byte(prefix), append(secret, "!tail"...)...))
			found := false
			for _, f := range forms {
				found = found || strings.Contains(e, f)
			}
			if !found {
				t.Errorf("no form matches %q encoded after %q", secret, prefix)
			}
		}
	}
}
