package testutil

import (
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/pkg/sftp"
)

// SFTPFileByFile copies the tree src into dst one file after the other over
// SFTP (create, write, close, chmod), as Packer's file provisioner does: the
// baseline upload benchmarks compare the tool against.
func SFTPFileByFile(sc *sftp.Client, src, dst string) error {
	if err := sc.MkdirAll(dst); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == src {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		rp := path.Join(dst, filepath.ToSlash(rel))
		if d.IsDir() {
			return sc.Mkdir(rp)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		w, err := sc.Create(rp)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, f); err != nil {
			w.Close()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return sc.Chmod(rp, info.Mode().Perm())
	})
}
