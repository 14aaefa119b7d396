package remote

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/remote/sshtest"
	"github.com/mp-image-action/mp-image-action/internal/remote/treegen"
)

func TestUploadTreeEqualsSource(t *testing.T) {
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	src := t.TempDir()
	if err := treegen.Tricky(src); err != nil {
		t.Fatal(err)
	}
	if _, err := treegen.Generate(filepath.Join(src, "gen"), treegen.Spec{SmallFiles: 250, SmallSize: 2000, BigFiles: 1, BigSize: 3 << 20, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"", "tar", "sftp"} {
		t.Run("method="+method, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "new dir", "root")
			st, err := c.Upload(context.Background(), src, dst, UploadOptions{Method: method})
			if err != nil {
				t.Fatal(err)
			}
			if ok, diff, err := treegen.Equal(src, dst); err != nil || !ok {
				t.Fatalf("uploaded tree differs (%v):\n%s", err, diff)
			}
			wantMethod := method
			if method == "" {
				wantMethod = "tar" // GNU tar is on this machine
			}
			// 250 + 1 generated, 9 tricky files, 3 symlinks.
			if st.Method != wantMethod || st.Files != 263 || st.Bytes < 3<<20 || st.Duration <= 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestUploadKeepsExistingDirs: a recipe's files/ lands on /, so existing
// directories keep their mode and symlinks to directories stay symlinks.
func TestUploadKeepsExistingDirs(t *testing.T) {
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "etc", "app"), 0o755)
	os.WriteFile(filepath.Join(src, "etc", "app", "conf"), []byte("c"), 0o644)
	os.MkdirAll(filepath.Join(src, "lib", "systemd"), 0o755)
	os.WriteFile(filepath.Join(src, "lib", "systemd", "unit"), []byte("u"), 0o644)
	for _, method := range []string{"tar", "sftp"} {
		t.Run(method, func(t *testing.T) {
			dst := t.TempDir()
			os.Chmod(dst, 0o711)
			os.Mkdir(filepath.Join(dst, "etc"), 0o700)
			os.MkdirAll(filepath.Join(dst, "usr", "lib"), 0o755)
			os.Symlink("usr/lib", filepath.Join(dst, "lib"))
			if _, err := c.Upload(context.Background(), src, dst, UploadOptions{Method: method}); err != nil {
				t.Fatal(err)
			}
			for p, want := range map[string]os.FileMode{".": os.ModeDir | 0o711, "etc": os.ModeDir | 0o700, "lib": os.ModeSymlink, "etc/app": os.ModeDir | 0o755} {
				fi, err := os.Lstat(filepath.Join(dst, p))
				if err != nil {
					t.Fatal(err)
				}
				got := fi.Mode() & (os.ModeType | os.ModePerm)
				if want == os.ModeSymlink {
					got = fi.Mode().Type()
				}
				if got != want {
					t.Errorf("%s: mode %v, want %v", p, got, want)
				}
			}
			if b, err := os.ReadFile(filepath.Join(dst, "usr", "lib", "systemd", "unit")); err != nil || string(b) != "u" {
				t.Errorf("file did not go through the directory symlink: %q %v", b, err)
			}
		})
	}
}

func TestUploadFallsBackToSFTPWithoutTar(t *testing.T) {
	// A PATH with head but no tar: `command -v tar` fails.
	bin := t.TempDir()
	os.Symlink("/usr/bin/head", filepath.Join(bin, "head"))
	os.Symlink("/bin/mkdir", filepath.Join(bin, "mkdir"))
	_, cfg := testServer(t, sshtest.Options{Env: []string{"PATH=" + bin}})
	c := dialT(t, cfg)
	src := t.TempDir()
	if err := treegen.Tricky(src); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "d")
	st, err := c.Upload(context.Background(), src, dst, UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Method != "sftp" {
		t.Errorf("method %s, want sftp", st.Method)
	}
	if ok, diff, err := treegen.Equal(src, dst); err != nil || !ok {
		t.Fatalf("SFTP fallback tree differs (%v):\n%s", err, diff)
	}
}

func TestUploadDisconnect(t *testing.T) {
	src := t.TempDir()
	if _, err := treegen.Generate(src, treegen.Spec{SmallFiles: 100, SmallSize: 1000, BigFiles: 2, BigSize: 4 << 20}); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"tar", "sftp"} {
		t.Run(method, func(t *testing.T) {
			dst := t.TempDir() // before the server: removed after it stopped writing
			s, cfg := testServer(t, sshtest.Options{})
			s.DropAfter(1 << 20) // mid-upload
			c := dialT(t, cfg)
			_, err := c.Upload(context.Background(), src, dst, UploadOptions{Method: method, Name: "upload files/"})
			var de *DisconnectError
			if !errors.As(err, &de) || de.Name != "upload files/" {
				t.Fatalf("err %v, want *DisconnectError", err)
			}
		})
	}
}

func TestUploadLocalErrors(t *testing.T) {
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct{ name, src, want string }{
		{"missing", filepath.Join(t.TempDir(), "nope"), "read local folder"},
		{"not a dir", file, "not a folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Upload(context.Background(), tc.src, t.TempDir(), UploadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	dir := t.TempDir()
	for _, tc := range []struct {
		path string
		data string
		mode os.FileMode
	}{
		{"a/b/application.info", "application_name=\"x y\"\n", 0o644},
		{"a/b/application.info", "replaced\n", 0o600}, // overwrite, new mode
		{"run me.sh", "#!/bin/sh\n", 0o755},
		{"empty", "", 0o644},
	} {
		p := filepath.Join(dir, tc.path)
		if err := c.WriteFile(context.Background(), p, []byte(tc.data), tc.mode); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		fi, _ := os.Stat(p)
		if err != nil || string(b) != tc.data || fi.Mode().Perm() != tc.mode {
			t.Errorf("%s: %q %v mode %v", tc.path, b, err, fi.Mode())
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "a", "b", "*.??????")); len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}
}
