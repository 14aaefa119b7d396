package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/sumdb/dirhash"
)

// Digest algorithm names in the recipe's DigestSet.
const (
	// AlgDirHash is in-toto's standard dirHash: contents of regular files only.
	AlgDirHash = "dirHash"
	// AlgTree is this tool's tree digest: paths, types, modes and contents
	// (docs/provenance.md gives the exact definition and a shell equivalent).
	AlgTree = "mpImageTreeSha256"
)

// Entry is one file, folder or symlink of a tree, by its slash path relative to the tree.
type entry struct {
	rel  string
	full string
	info fs.FileInfo
}

// TreeDigest digests the folder root: every file, folder and symlink below
// it (a .git folder excepted), sorted by path.
func TreeDigest(root string) (map[string]string, error) {
	entries, err := treeEntries(root)
	if err != nil {
		return nil, fmt.Errorf("digest of %s: %w", root, err)
	}
	return digestEntries(entries)
}

// FilesDigest digests named files (a Packer template, its var files and
// what its provisioners upload), each under the name given; folders are walked.
func FilesDigest(names map[string]string) (map[string]string, error) {
	var entries []entry
	for rel, full := range names {
		info, err := os.Lstat(full)
		if err != nil {
			return nil, fmt.Errorf("digest: %w", err)
		}
		entries = append(entries, entry{rel: rel, full: full, info: info})
		if info.IsDir() {
			sub, err := treeEntries(full)
			if err != nil {
				return nil, err
			}
			for _, e := range sub {
				e.rel = strings.TrimSuffix(rel, "/") + "/" + e.rel
				entries = append(entries, e)
			}
		}
	}
	return digestEntries(entries)
}

// treeEntries lists a folder's entries as TreeDigest sees them.
func treeEntries(root string) ([]entry, error) {
	var entries []entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir // version control data, not the recipe
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		entries = append(entries, entry{rel: filepath.ToSlash(rel), full: p, info: info})
		return nil
	})
	return entries, err
}

func digestEntries(entries []entry) (map[string]string, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].rel < entries[j].rel })
	tree := sha256.New()
	var files []string
	byName := map[string]string{}
	for _, e := range entries {
		if strings.ContainsAny(e.rel, "\n") {
			return nil, fmt.Errorf("digest: %q: a file name with a newline cannot be digested unambiguously", e.rel)
		}
		m := e.info.Mode()
		kind, sum := "", "-"
		switch {
		case m.IsRegular():
			kind = "f"
			s, err := fileSHA256(e.full)
			if err != nil {
				return nil, err
			}
			sum = s
			files = append(files, e.rel)
			byName[e.rel] = e.full
		case m.IsDir():
			kind = "d"
		case m&fs.ModeSymlink != 0:
			kind = "l"
			target, err := os.Readlink(e.full)
			if err != nil {
				return nil, fmt.Errorf("digest: %w", err)
			}
			h := sha256.Sum256([]byte(target))
			sum = hex.EncodeToString(h[:])
		default:
			return nil, fmt.Errorf("digest: %s is neither a file, a folder nor a symlink", e.full)
		}
		fmt.Fprintf(tree, "%s %04o %s %s\n", kind, unixMode(m), sum, e.rel)
	}
	out := map[string]string{AlgTree: hex.EncodeToString(tree.Sum(nil))}
	h1, err := dirhash.Hash1(files, func(name string) (io.ReadCloser, error) { return os.Open(byName[name]) })
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	// Hash1 is "h1:" + base64; in-toto's dirHash is the same sum in lowercase hex.
	raw, err := decodeH1(h1)
	if err != nil {
		return nil, err
	}
	out[AlgDirHash] = raw
	return out, nil
}

// unixMode is the permission bits with setuid, setgid and sticky as chmod writes them.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("digest: %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
