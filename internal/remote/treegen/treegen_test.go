package treegen

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiffSeesChanges: upload tests trust Diff, so it must catch each kind
// of difference.
func TestDiffSeesChanges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(dir string) error
		want   string
	}{
		{"content", func(d string) error {
			return os.WriteFile(filepath.Join(d, "opt/vendor/bin/run me.sh"), []byte("#!/bin/sh\necho HI\n"), 0o755)
		}, "differs: opt/vendor/bin/run me.sh"},
		{"mode", func(d string) error { return os.Chmod(filepath.Join(d, "opt/vendor/bin/suid"), 0o755) }, "differs: opt/vendor/bin/suid"},
		{"dir mode", func(d string) error { return os.Chmod(filepath.Join(d, "opt/vendor/private"), 0o755) }, "differs: opt/vendor/private"},
		{"symlink target", func(d string) error {
			p := filepath.Join(d, "opt/vendor/link-rel")
			os.Remove(p)
			return os.Symlink("elsewhere", p)
		}, "differs: opt/vendor/link-rel"},
		{"symlink made a file", func(d string) error {
			p := filepath.Join(d, "opt/vendor/link-dir")
			os.Remove(p)
			return os.WriteFile(p, nil, 0o644)
		}, "differs: opt/vendor/link-dir"},
		{"missing empty dir", func(d string) error { return os.Remove(filepath.Join(d, "opt/vendor/empty dir")) }, "missing: opt/vendor/empty dir"},
		{"extra file", func(d string) error { return os.WriteFile(filepath.Join(d, "extra"), nil, 0o644) }, "extra: extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			if err := Tricky(a); err != nil {
				t.Fatal(err)
			}
			// cp -a makes an exact copy to start from.
			if out, err := exec.Command("cp", "-a", a+"/.", b).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
			if ok, diff, err := Equal(a, b); err != nil || !ok {
				t.Fatalf("exact copy differs (%v): %s", err, diff)
			}
			if err := tc.change(b); err != nil {
				t.Fatal(err)
			}
			d, err := Diff(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if len(d) != 1 || !strings.HasPrefix(d[0], tc.want) {
				t.Errorf("Diff = %q, want one entry starting %q", d, tc.want)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	st, err := Generate(dir, Spec{SmallFiles: 250, SmallSize: 100, BigFiles: 2, BigSize: 3 << 20, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 252 {
		t.Errorf("%d files, want 252", st.Files)
	}
	var n int
	var size int64
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n++
			size += fi.Size()
		}
		return err
	})
	if n != st.Files || size != st.Bytes {
		t.Errorf("on disk %d files %d bytes, Stats says %+v", n, size, st)
	}
	// Same seed, same tree: benchmarks compare like with like.
	again := t.TempDir()
	Generate(again, Spec{SmallFiles: 250, SmallSize: 100, BigFiles: 2, BigSize: 3 << 20, Seed: 7})
	if ok, diff, _ := Equal(dir, again); !ok {
		t.Errorf("same seed gave different trees:\n%s", diff)
	}
}
