//go:build linux

package nspawn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// imageDef says how to build one base image slug with debootstrap.
type imageDef struct {
	slug, distribution, name string
	suite                    string
	ubuntu                   bool   // from the Ubuntu mirror, with Ubuntu's keyring
	script                   string // debootstrap script when the suite has none of its own
}

// imageRecipe versions the build below: change it when the package list or
// the customisation changes, so cached images from older recipes are not reused.
const imageRecipe = "r1"

// basePackages is what a Marketplace build expects on a fresh droplet,
// kept small (LOCAL-CLOUD.md): cloud-init and its cffi dependency that
// debootstrap does not resolve, sshd, ufw, systemd as init, and the tools
// install scripts use to add third-party repositories.
var basePackages = []string{
	"openssh-server", "cloud-init", "python3-cffi-backend", "ufw", "sudo",
	"systemd", "systemd-sysv", "dbus", "iproute2", "netbase", "procps",
	"ca-certificates", "curl", "gpg",
}

func imageDefs() []imageDef {
	return []imageDef{
		{slug: "debian-12-x64", distribution: "Debian", name: "12 x64", suite: "bookworm"},
		{slug: "ubuntu-24-04-x64", distribution: "Ubuntu", name: "24.04 (LTS) x64", suite: "noble", ubuntu: true, script: "gutsy"},
		{slug: "ubuntu-22-04-x64", distribution: "Ubuntu", name: "22.04 (LTS) x64", suite: "jammy", ubuntu: true},
	}
}

// imageMeta is stored next to a built rootfs.
type imageMeta struct {
	Slug      string    `json:"slug"`
	Recipe    string    `json:"recipe"`
	SizeBytes int64     `json:"size_bytes"`
	Built     time.Time `json:"built"`
	Mirror    string    `json:"mirror"`
}

func (b *Backend) imageDir(slug string) string {
	return filepath.Join(b.opts.CacheDir, "images", slug+"-"+imageRecipe)
}

func (b *Backend) mirrorFor(d imageDef) string {
	if d.ubuntu {
		return b.opts.UbuntuMirror
	}
	return b.opts.Mirror
}

// Images lists the slugs this backend knows; the ones without a configured
// mirror are listed as unavailable, with the reason.
func (b *Backend) Images() []localcloud.BaseImage {
	var out []localcloud.BaseImage
	for _, d := range imageDefs() {
		img := localcloud.BaseImage{Slug: d.slug, Distribution: d.distribution, Name: d.name, MinDiskGB: 10, SizeGB: 0.3, Available: true}
		if meta, err := readImageMeta(b.imageDir(d.slug)); err == nil {
			img.SizeGB = gb(meta.SizeBytes)
		}
		if b.mirrorFor(d) == "" {
			img.Available = false
			img.Reason = "no Ubuntu mirror configured (set MP_IMAGE_UBUNTU_MIRROR)"
		}
		out = append(out, img)
	}
	return out
}

func readImageMeta(dir string) (imageMeta, error) {
	var m imageMeta
	b, err := os.ReadFile(filepath.Join(dir, "image.json"))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

func gb(bytes int64) float64 { return float64(bytes) / (1 << 30) }

// EnsureBaseImage builds the base image for slug once (about 100 s) and
// reuses it afterwards. It holds a file lock while building so concurrent
// processes build it once, and renames the finished tree into place so no
// one ever sees half an image.
func (b *Backend) EnsureBaseImage(ctx context.Context, slug string) error {
	_, err := b.baseImage(ctx, slug)
	return err
}

// baseImage returns the rootfs of slug, building it first if needed.
func (b *Backend) baseImage(ctx context.Context, slug string) (string, error) {
	var def *imageDef
	for _, d := range imageDefs() {
		if d.slug == slug {
			def = &d
			break
		}
	}
	if def == nil {
		return "", fmt.Errorf("image %q is not a base image of the local cloud", slug)
	}
	mirror := b.mirrorFor(*def)
	if mirror == "" {
		return "", fmt.Errorf("image %s: no Ubuntu mirror configured (set MP_IMAGE_UBUNTU_MIRROR)", slug)
	}
	dir := b.imageDir(slug)
	rootfs := filepath.Join(dir, "rootfs")
	if _, err := readImageMeta(dir); err == nil {
		return rootfs, nil
	}
	unlock, err := flock(ctx, dir+".lock", true)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := readImageMeta(dir); err == nil {
		return rootfs, nil // another process built it while we waited
	}
	// We hold the lock: any build dir for this image is a killed build's.
	stale, _ := filepath.Glob(filepath.Join(b.opts.CacheDir, "images", ".build-"+filepath.Base(dir)+"-*"))
	for _, s := range stale {
		if err := removeTree(s); err != nil {
			return "", fmt.Errorf("remove stale image build: %w", err)
		}
	}
	if err := removeTree(dir); err != nil { // a tree without image.json is incomplete
		return "", err
	}
	build := filepath.Join(b.opts.CacheDir, "images", fmt.Sprintf(".build-%s-%d", filepath.Base(dir), os.Getpid()))
	start := time.Now()
	b.opts.Logf("nspawn: building base image %s with debootstrap from %s (once; about 100 s)", slug, mirror)
	if err := b.buildImage(ctx, *def, mirror, build); err != nil {
		_ = removeTree(build)
		return "", fmt.Errorf("build base image %s: %w", slug, err)
	}
	if err := os.Rename(build, dir); err != nil {
		_ = removeTree(build)
		return "", fmt.Errorf("install base image %s: %w", slug, err)
	}
	b.opts.Logf("nspawn: base image %s built in %s", slug, time.Since(start).Round(time.Second))
	return rootfs, nil
}

func (b *Backend) buildImage(ctx context.Context, d imageDef, mirror, build string) error {
	rootfs := filepath.Join(build, "rootfs")
	debs := filepath.Join(b.opts.CacheDir, "debs", d.suite)
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return err
	}
	args := []string{"--variant=minbase", "--cache-dir=" + debs, "--include=" + strings.Join(basePackages, ",")}
	if d.ubuntu {
		const keyring = "/usr/share/keyrings/ubuntu-archive-keyring.gpg"
		if _, err := os.Stat(keyring); err != nil {
			return fmt.Errorf("Ubuntu images need Ubuntu's archive keyring: apt-get install -y ubuntu-keyring")
		}
		args = append(args, "--keyring="+keyring, "--components=main,universe")
	}
	args = append(args, d.suite, rootfs, mirror)
	if d.script != "" {
		args = append(args, filepath.Join("/usr/share/debootstrap/scripts", d.script))
	}
	// debootstrap leaves /proc and /sys mounted inside when it fails.
	defer func() { _ = unmountAll(rootfs) }()
	if out, err := output(ctx, "debootstrap", args...); err != nil {
		_ = os.WriteFile(build+".log", []byte(out), 0o644)
		return fmt.Errorf("debootstrap (log in %s.log): %w", build, err)
	}
	if err := unmountAll(rootfs); err != nil {
		return err
	}
	if err := customizeImage(rootfs, d, mirror); err != nil {
		return err
	}
	size, err := dirBytes(ctx, rootfs)
	if err != nil {
		return err
	}
	meta, _ := json.MarshalIndent(imageMeta{Slug: d.slug, Recipe: imageRecipe, SizeBytes: size, Built: time.Now().UTC(), Mirror: mirror}, "", "  ")
	return os.WriteFile(filepath.Join(build, "image.json"), meta, 0o644)
}

// customizeImage turns a debootstrapped tree into an image: no identity of
// its own (every machine gets fresh host keys and machine-id), cloud-init
// reading only the NoCloud seed, root login with the droplet's keys as on
// DigitalOcean.
func customizeImage(rootfs string, d imageDef, mirror string) error {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	keys, _ := filepath.Glob(filepath.Join(rootfs, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := root.Remove(strings.TrimPrefix(k, rootfs+"/")); err != nil {
			return err
		}
	}
	debs, _ := filepath.Glob(filepath.Join(rootfs, "var/cache/apt/archives/*.deb"))
	lists, _ := filepath.Glob(filepath.Join(rootfs, "var/lib/apt/lists/*_*"))
	for _, f := range append(debs, lists...) {
		if err := root.Remove(strings.TrimPrefix(f, rootfs+"/")); err != nil {
			return err
		}
	}
	_ = root.Remove("var/lib/dbus/machine-id")
	// The debootstrap host's resolv.conf means nothing inside; machines reach
	// mirrors through the apt proxy, not DNS.
	_ = root.Remove("etc/resolv.conf")
	sources := fmt.Sprintf("deb %s %s main\ndeb %s %s-updates main\n", mirror, d.suite, mirror, d.suite)
	if d.ubuntu {
		sources = fmt.Sprintf("deb %[1]s %[2]s main universe\ndeb %[1]s %[2]s-updates main universe\ndeb %[1]s %[2]s-security main universe\n", mirror, d.suite)
	} else {
		sources += fmt.Sprintf("deb %s %s-security main\n", strings.TrimSuffix(strings.TrimSuffix(mirror, "/"), "/debian")+"/debian-security", d.suite)
	}
	files := []struct {
		path string
		data string
	}{
		{"etc/machine-id", ""},
		{"etc/hostname", "localhost\n"},
		{"etc/resolv.conf", "# local cloud: no DNS inside machines; apt and http(s)_proxy use the host's proxy\n"},
		{"etc/apt/sources.list", sources},
		{"etc/cloud/cloud.cfg.d/90-local-cloud.cfg", cloudCfg},
	}
	for _, f := range files {
		if err := root.WriteFile(f.path, []byte(f.data), 0o644); err != nil {
			return fmt.Errorf("write %s into image: %w", f.path, err)
		}
	}
	if _, err := os.Stat(filepath.Join(rootfs, "usr/bin/cloud-init")); errors.Is(err, os.ErrNotExist) {
		return errors.New("cloud-init missing from the built tree")
	}
	return nil
}

// cloudCfg makes cloud-init behave as on a DigitalOcean droplet: only the
// NoCloud seed is read (no network probing for other datasources), the
// request's keys go to root with no "login as debian" prefix, and no default
// user is made. Without the C.UTF-8 locale the locale module fails and the
// system ends up degraded.
const cloudCfg = `# mp-image local cloud
datasource_list: [ NoCloud, None ]
locale: C.UTF-8
disable_root: false
users: []
manage_etc_hosts: true
`
