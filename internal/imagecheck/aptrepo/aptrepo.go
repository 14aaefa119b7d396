// Package aptrepo builds a tiny local apt repository whose suite is a "security" suite, so
// end-to-end tests can make a droplet see a pending security update.
package aptrepo

import (
	"crypto/md5"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Names the fixture uses.
const (
	Package    = "mpi-dummy"
	OldVersion = "1.0"
	NewVersion = "1.1"
	Suite      = "bookworm-security"
	Component  = "main"
)

// Repo is a built repository: serve Dir over HTTP (or use a file: URI), install OldDeb in
// the droplet, add SourcesLine, and `apt-get --just-print upgrade` lists Package as a
// security update; installing NewDeb (or upgrading) clears it.
type Repo struct {
	Dir    string // repository root (dists/, pool/)
	OldDeb string // Package_OldVersion_all.deb, outside the repository
	NewDeb string // Package_NewVersion_all.deb, in pool/
	// BaseDir is the same suite before the update was published: it offers
	// only OldVersion, so a machine with it installed has nothing pending.
	BaseDir string
}

// SourcesLine is the sources.list line for the repository at baseURL (http://... or file:/...).
func (r *Repo) SourcesLine(baseURL string) string {
	return fmt.Sprintf("deb [trusted=yes] %s %s %s", strings.TrimRight(baseURL, "/"), Suite, Component)
}

// Build writes the two packages and the repository under dir; it needs dpkg-deb and
// dpkg-scanpackages (package dpkg-dev).
func Build(dir string) (*Repo, error) {
	for _, tool := range []string{"dpkg-deb", "dpkg-scanpackages"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("aptrepo: %s not found: apt-get install dpkg-dev", tool)
		}
	}
	r := &Repo{Dir: filepath.Join(dir, "repo"), BaseDir: filepath.Join(dir, "base-repo")}
	pool := filepath.Join(r.Dir, "pool", Component)
	basePool := filepath.Join(r.BaseDir, "pool", Component)
	for _, d := range []string{pool, basePool} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("aptrepo: %w", err)
		}
	}
	var err error
	if r.OldDeb, err = buildDeb(dir, dir, OldVersion); err != nil {
		return nil, err
	}
	if _, err = buildDeb(dir, basePool, OldVersion); err != nil {
		return nil, err
	}
	if r.NewDeb, err = buildDeb(dir, pool, NewVersion); err != nil {
		return nil, err
	}
	for _, root := range []string{r.Dir, r.BaseDir} {
		if err := writeSuite(root); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// writeSuite indexes root's pool/ as the suite's Packages and Release files.
func writeSuite(root string) error {
	c := exec.Command("dpkg-scanpackages", "--multiversion", "pool")
	c.Dir = root
	packages, err := c.Output()
	if err != nil {
		return fmt.Errorf("aptrepo: dpkg-scanpackages: %w", err)
	}
	archs := []string{"amd64", "arm64", "all"}
	var files []string
	for _, a := range archs {
		rel := filepath.Join(Component, "binary-"+a, "Packages")
		p := filepath.Join(root, "dists", Suite, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("aptrepo: %w", err)
		}
		if err := os.WriteFile(p, packages, 0o644); err != nil {
			return fmt.Errorf("aptrepo: %w", err)
		}
		files = append(files, rel)
	}
	// apt refuses a Release without hashes even for a trusted=yes source.
	var md5s, shas strings.Builder
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(root, "dists", Suite, rel))
		if err != nil {
			return fmt.Errorf("aptrepo: %w", err)
		}
		fmt.Fprintf(&md5s, " %x %d %s\n", md5.Sum(b), len(b), rel)
		fmt.Fprintf(&shas, " %x %d %s\n", sha256.Sum256(b), len(b), rel)
	}
	release := fmt.Sprintf("Origin: mp-image-test\nLabel: mp-image-test-security\nSuite: %s\nCodename: %s\nArchitectures: %s\nComponents: %s\nDescription: mp-image test security updates\nMD5Sum:\n%sSHA256:\n%s",
		Suite, Suite, strings.Join(archs, " "), Component, md5s.String(), shas.String())
	if err := os.WriteFile(filepath.Join(root, "dists", Suite, "Release"), []byte(release), 0o644); err != nil {
		return fmt.Errorf("aptrepo: %w", err)
	}
	return nil
}

func buildDeb(work, outDir, version string) (string, error) {
	src := filepath.Join(work, "src-"+version)
	if err := os.MkdirAll(filepath.Join(src, "DEBIAN"), 0o755); err != nil {
		return "", fmt.Errorf("aptrepo: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(src, "usr/share/doc", Package), 0o755); err != nil {
		return "", fmt.Errorf("aptrepo: %w", err)
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: mp-image tests <tests@example.invalid>\nSection: misc\nPriority: optional\nDescription: dummy package for mp-image's security update check\n", Package, version)
	if err := os.WriteFile(filepath.Join(src, "DEBIAN", "control"), []byte(control), 0o644); err != nil {
		return "", fmt.Errorf("aptrepo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(src, "usr/share/doc", Package, "VERSION"), []byte(version+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("aptrepo: %w", err)
	}
	out := filepath.Join(outDir, fmt.Sprintf("%s_%s_all.deb", Package, version))
	if b, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", src, out).CombinedOutput(); err != nil {
		return "", fmt.Errorf("aptrepo: dpkg-deb --build %s: %w: %s", version, err, b)
	}
	return out, nil
}
