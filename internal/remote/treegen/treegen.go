// Package treegen makes file trees for upload tests and benchmarks and compares trees after an upload.
package treegen

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Spec sizes a generated tree.
type Spec struct {
	SmallFiles int   // spread over directories of 100 files
	SmallSize  int   // bytes per small file (sizes vary from half to 1.5x)
	BigFiles   int   // in big/
	BigSize    int64 // bytes per big file
	Seed       uint64
}

// Stats is what Generate wrote.
type Stats struct {
	Files int
	Bytes int64
}

// Generate writes a tree under dir (created if needed) with content that
// does not compress, so byte counts mean what they say.
func Generate(dir string, s Spec) (Stats, error) {
	var st Stats
	r := rand.New(rand.NewPCG(s.Seed, 0x6d70))
	buf := make([]byte, 1<<20)
	for i := range s.SmallFiles {
		d := filepath.Join(dir, "small", fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return st, fmt.Errorf("generate tree: %w", err)
			}
		}
		n := s.SmallSize/2 + r.IntN(s.SmallSize+1)
		fill(r, buf[:n])
		mode := fs.FileMode(0o644)
		if i%10 == 0 {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(d, "f"+strconv.Itoa(i)), buf[:n], mode); err != nil {
			return st, fmt.Errorf("generate tree: %w", err)
		}
		st.Files++
		st.Bytes += int64(n)
	}
	if s.BigFiles > 0 {
		if err := os.MkdirAll(filepath.Join(dir, "big"), 0o755); err != nil {
			return st, fmt.Errorf("generate tree: %w", err)
		}
	}
	for i := range s.BigFiles {
		f, err := os.Create(filepath.Join(dir, "big", fmt.Sprintf("blob%02d.bin", i)))
		if err != nil {
			return st, fmt.Errorf("generate tree: %w", err)
		}
		for left := s.BigSize; left > 0; {
			n := min(left, int64(len(buf)))
			fill(r, buf[:n])
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return st, fmt.Errorf("generate tree: %w", err)
			}
			left -= n
		}
		if err := f.Close(); err != nil {
			return st, fmt.Errorf("generate tree: %w", err)
		}
		st.Files++
		st.Bytes += s.BigSize
	}
	return st, nil
}

func fill(r *rand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// Tricky writes a small tree with what uploads get wrong: nested and empty
// directories, modes (setuid, read-only, private dir), relative and dangling
// symlinks, a symlink to a directory, names with spaces, quotes and unicode,
// an empty file.
func Tricky(dir string) error {
	type item struct {
		path  string
		mode  fs.FileMode
		data  string
		link  string
		isDir bool
	}
	items := []item{
		{path: "etc/motd.d", isDir: true, mode: 0o755},
		{path: "etc/motd.d/99-hello", mode: 0o644, data: "hello\n"},
		{path: "opt/vendor/bin", isDir: true, mode: 0o750},
		{path: "opt/vendor/bin/run me.sh", mode: 0o755, data: "#!/bin/sh\necho hi\n"},
		{path: "opt/vendor/bin/suid", mode: 0o755 | fs.ModeSetuid, data: "x"},
		{path: "opt/vendor/readonly.txt", mode: 0o444, data: "ro\n"},
		{path: "opt/vendor/private", isDir: true, mode: 0o700},
		{path: "opt/vendor/private/secret", mode: 0o600, data: "s3cr3t"},
		{path: "opt/vendor/empty dir", isDir: true, mode: 0o755},
		{path: "opt/vendor/deep/a/b/c/d", isDir: true, mode: 0o755},
		{path: "opt/vendor/deep/a/b/c/d/leaf", mode: 0o644, data: "leaf"},
		{path: "opt/vendor/empty-file", mode: 0o644},
		{path: "opt/vendor/ünïcødé ✓.txt", mode: 0o644, data: "unicode\n"},
		{path: "opt/vendor/it's \"quoted\" $HOME;`x`", mode: 0o644, data: "quotes\n"},
		{path: "opt/vendor/link-rel", link: "bin/run me.sh"},
		{path: "opt/vendor/link-dir", link: "deep/a"},
		{path: "opt/vendor/link-dangling", link: "/nonexistent/target"},
	}
	for _, it := range items {
		p := filepath.Join(dir, filepath.FromSlash(it.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("tricky tree: %w", err)
		}
		var err error
		switch {
		case it.isDir:
			err = os.MkdirAll(p, 0o755)
		case it.link != "":
			err = os.Symlink(it.link, p)
		default:
			err = os.WriteFile(p, []byte(it.data), 0o600)
		}
		if err != nil {
			return fmt.Errorf("tricky tree: %w", err)
		}
	}
	// Modes last (reverse order) so read-only directories could be filled.
	for _, it := range slices.Backward(items) {
		if it.link != "" {
			continue
		}
		if err := os.Chmod(filepath.Join(dir, filepath.FromSlash(it.path)), it.mode); err != nil {
			return fmt.Errorf("tricky tree: %w", err)
		}
	}
	return nil
}

// Diff lists the differences between two trees (type, mode bits, content,
// symlink target), empty when they are equal. The roots' own modes are not
// compared.
func Diff(want, got string) ([]string, error) {
	a, err := index(want)
	if err != nil {
		return nil, err
	}
	b, err := index(got)
	if err != nil {
		return nil, err
	}
	var out []string
	for p, x := range a {
		y, ok := b[p]
		switch {
		case !ok:
			out = append(out, "missing: "+p)
		case x != y:
			out = append(out, fmt.Sprintf("differs: %s: want %s, got %s", p, x, y))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, "extra: "+p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// index describes every path below root in one comparable string.
func index(root string) (map[string]string, error) {
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc = "symlink -> " + t
		case info.Mode().IsRegular():
			sum, err := hashFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %d bytes sha256:%x", info.Size(), sum)
		}
		m[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compare trees: %w", err)
	}
	return m, nil
}

func hashFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		// A 0000 file: compare by mode alone rather than fail.
		return []byte(err.Error()), nil
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// Equal is Diff as a bool plus the first differences, for test messages.
func Equal(want, got string) (bool, string, error) {
	d, err := Diff(want, got)
	if err != nil {
		return false, "", err
	}
	var b bytes.Buffer
	for i, l := range d {
		if i == 20 {
			fmt.Fprintf(&b, "... and %d more\n", len(d)-20)
			break
		}
		b.WriteString(l + "\n")
	}
	return len(d) == 0, b.String(), nil
}
