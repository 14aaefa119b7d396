package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/errlist"
)

// snapshotNameChars keeps snapshot names to what every DigitalOcean surface
// (API, control panel, Vendor Portal) shows unchanged. The OpenAPI spec puts
// no pattern on image names, so this is our own, conservative rule.
var snapshotNameChars = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._ -]*$`)

// maxSnapshotName is a conservative length limit for image names.
const maxSnapshotName = 255

// placeholder matches {{ name }} in a snapshot name template.
var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z_]+)\s*\}\}`)

// RenderSnapshotName expands {{date}} (2006-01-02), {{time}} (150405),
// {{timestamp}} (Unix seconds) and {{run_id}} in tmpl, in UTC, and checks the
// result is a usable snapshot name.
func RenderSnapshotName(tmpl string, now time.Time, runID string) (string, error) {
	if strings.TrimSpace(tmpl) == "" {
		tmpl = DefaultSnapshotName
	}
	now = now.UTC()
	var unknown []string
	out := placeholder.ReplaceAllStringFunc(tmpl, func(m string) string {
		switch placeholder.FindStringSubmatch(m)[1] {
		case "date":
			return now.Format("2006-01-02")
		case "time":
			return now.Format("150405")
		case "timestamp":
			return strconv.FormatInt(now.Unix(), 10)
		case "run_id":
			return runID
		}
		unknown = append(unknown, m)
		return m
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("snapshot-name %q: unknown placeholder %s: use {{date}}, {{time}}, {{timestamp}} or {{run_id}}", tmpl, strings.Join(unknown, ", "))
	}
	if strings.Contains(out, "{{") || strings.Contains(out, "}}") {
		return "", fmt.Errorf("snapshot-name %q: unbalanced braces: write placeholders as {{date}}", tmpl)
	}
	if len(out) > maxSnapshotName {
		return "", fmt.Errorf("snapshot-name %q is %d characters: keep it under %d", out, len(out), maxSnapshotName)
	}
	if !snapshotNameChars.MatchString(out) {
		return "", fmt.Errorf("snapshot-name %q: use letters, digits, '.', '_', '-' and spaces, starting with a letter or digit", out)
	}
	return out, nil
}

var (
	// DigitalOcean tag names (OpenAPI: tags.name pattern).
	tagName = regexp.MustCompile(`^[a-zA-Z0-9_\-:]{1,255}$`)
	// Region slugs such as nyc3, sfo3, ams3.
	regionSlug = regexp.MustCompile(`^[a-z]{3}[0-9]$`)
	// Shell variable names for the scripts' environment.
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks what can be known before any API call. It returns every
// problem at once, joined, each a single line that says what to do.
func Validate(c *Config) error {
	if c == nil {
		return errors.New("no configuration: this is a bug, please report it")
	}
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	switch c.Cloud {
	case "", "local":
	default:
		add("cloud %q is unknown: leave it empty for DigitalOcean (or api-url) or set it to local", c.Cloud)
	}
	if c.Token == "" && c.Cloud != "local" && c.Host == "" {
		add("token is missing: set DIGITALOCEAN_TOKEN (or --token, or the action's token input from a secret), or use --cloud local")
	}
	if c.Cloud != "local" {
		if err := checkAPIURL(c.APIURL); err != nil {
			errs = append(errs, err)
		}
	}

	switch {
	case c.Dir == "" && c.PackerTemplate == "":
		add("no recipe: set dir to a recipe folder (or packer-template to a Packer template)")
	case c.Dir != "" && c.PackerTemplate != "":
		add("dir and packer-template are both set: keep only one of them")
	}
	if c.PackerTemplate == "" && (len(c.PackerVars) > 0 || len(c.PackerVarFiles) > 0) {
		add("var and var-file only apply to packer-template: remove them or set packer-template")
	}
	for _, v := range c.PackerVars {
		if k, _, ok := strings.Cut(v, "="); !ok || strings.TrimSpace(k) == "" {
			add("var %q is not name=value: write it as name=value", v)
		}
	}

	switch c.Mode {
	case ModeBuildImage, ModeBuildBase:
	default:
		add("mode %q is unknown: use %s or %s", c.Mode, ModeBuildImage, ModeBuildBase)
	}
	if c.PollInterval < 0 {
		add("poll-interval %s is negative: use 0 for the adaptive schedule or a duration such as 3s", c.PollInterval)
	}
	if c.SSHUser == "" {
		add("ssh-user is empty: leave it unset (root)")
	}
	if c.Host == "" {
		if c.Image == "" {
			add("image is empty: set a base image slug such as ubuntu-24-04-x64")
		}
		if c.Region == "" {
			add("region is empty: set a region slug such as nyc3")
		} else if !regionSlug.MatchString(c.Region) {
			add("region %q is not a region slug: use one such as nyc3, sfo3 or ams3", c.Region)
		}
		if c.Size == "" {
			add("size is empty: set a size slug such as s-1vcpu-1gb")
		}
	} else {
		if strings.ContainsAny(c.Host, " /@") {
			add("host %q is not an IP address or host name: give only the address (set the user with ssh-user)", c.Host)
		}
		if c.SSHKey == "" {
			add("host is set but ssh-key is not: give the private key file that logs in to %s", c.Host)
		}
		if c.KeepDroplet {
			add("keep-droplet has no meaning with host (no droplet is created): remove it")
		}
	}
	if c.Host == "" && c.SSHKey != "" {
		add("ssh-key is only used with host: remove it or set host")
	}
	if c.Force && c.Host == "" {
		add("force only applies to host: remove it or set host")
	}

	if c.Mode == ModeBuildImage {
		if _, err := RenderSnapshotName(c.SnapshotName, time.Date(2025, 1, 31, 23, 59, 59, 0, time.UTC), "0123abcd"); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range c.SnapshotRegions {
		if !regionSlug.MatchString(r) {
			add("snapshot-regions: %q is not a region slug: use slugs such as nyc3, sfo3, ams3", r)
		}
	}
	for _, t := range c.SnapshotTags {
		if !tagName.MatchString(t) {
			add("snapshot-tags: %q is not a valid tag: use letters, digits, '_', '-' and ':' (at most 255)", t)
		}
	}
	for _, t := range c.DropletTags {
		if !tagName.MatchString(t) {
			add("droplet-tags: %q is not a valid tag: use letters, digits, '_', '-' and ':' (at most 255)", t)
		}
	}
	for k := range c.Env {
		if !envName.MatchString(k) {
			add("env: %q is not a variable name: use letters, digits and '_', not starting with a digit", k)
		}
	}
	for _, p := range c.APTPackages {
		if strings.HasPrefix(p, "-") || strings.ContainsAny(p, " \t;&|$`") {
			add("apt-packages: %q is not a package name: list package names only, separated by commas", p)
		}
	}

	if c.SubmitAppID != "" {
		if c.Mode != ModeBuildImage {
			add("submit-app-id needs mode build_image: only a snapshot can be submitted")
		}
		if c.SubmitVersion == "" {
			add("submit-app-id is set but submit-version is not: give the version of the update")
		}
	} else if c.SubmitVersion != "" || c.SubmitReason != "" || c.SubmitOSVersion != "" || len(c.SubmitSoftware) > 0 {
		add("submit-* options are set but submit-app-id is not: set submit-app-id (the Vendor Portal app ID) or remove them")
	}

	switch {
	case c.Command != "" && c.Command != "build":
		add("command %q: a build's command is build (run mp-image freshness, or the action with command: freshness, to check a snapshot)", c.Command)
	case c.FreshnessSnapshot != "":
		add("snapshot only applies to freshness: remove it, or set command to freshness")
	}
	if c.Provenance != "" && c.Manifest == "" {
		add("provenance is set but manifest is not: the statement is about the manifest (and the SBOM); set manifest to a file path")
	}
	for _, p := range [][2]string{{"sbom", c.SBOM}, {"provenance", c.Provenance}} {
		if p[1] != "" && (p[1] == c.Manifest || p[1] == c.Report || (p[0] == "provenance" && p[1] == c.SBOM)) {
			add("%s %q is also another output's path: give each output its own file", p[0], p[1])
		}
	}

	t := c.Timeouts
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"active-timeout", t.Active}, {"ssh-timeout", t.SSH}, {"script-timeout", t.Script},
		{"idle-timeout", t.Idle}, {"shutdown-timeout", t.Shutdown}, {"snapshot-timeout", t.Snapshot},
		{"transfer-timeout", t.Transfer}, {"timeout", t.Total},
	} {
		if d.v < 0 {
			add("%s is negative (%s): use a positive duration such as 10m, or 0 where no limit is allowed", d.name, d.v)
		}
	}
	if t.Total > 0 && t.Active > t.Total {
		add("active-timeout (%s) is longer than timeout (%s): raise timeout or lower active-timeout", t.Active, t.Total)
	}
	return errlist.Join(errs...)
}

// CheckAPIURL checks an API URL the way Validate checks api-url (a Packer
// template's api_url too): http(s), no credentials, no plain http to a public host.
func CheckAPIURL(raw string) error { return checkAPIURL(raw) }

func checkAPIURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("api-url %q is not an http(s) URL: use %s or the URL `mp-image local-cloud` prints", raw, DefaultAPIURL)
	}
	if u.User != nil {
		return fmt.Errorf("api-url %q holds credentials: remove them and pass the token through DIGITALOCEAN_TOKEN", u.Redacted())
	}
	if u.Scheme == "http" {
		if h := u.Hostname(); h != "localhost" {
			if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() && !ip.IsPrivate() {
				return fmt.Errorf("api-url %q is plain http to a public host: the token would travel unencrypted; use https", raw)
			}
		}
	}
	return nil
}

// ValidateFreshness checks the options of mp-image freshness: a snapshot ID,
// where the API is, and a recipe folder only when one is given.
func ValidateFreshness(c *Config) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.FreshnessSnapshot == "" {
		add("snapshot is missing: pass --snapshot ID (the listed image's snapshot, a build's snapshot-id)")
	} else if n, err := strconv.Atoi(c.FreshnessSnapshot); err != nil || n <= 0 {
		add("snapshot %q is not a snapshot ID: give the number a build printed as snapshot-id", c.FreshnessSnapshot)
	}
	switch c.Cloud {
	case "":
	case "local":
		add("cloud local starts an empty local cloud that holds no snapshot: point api-url at the local cloud (mp-image local-cloud) that has it")
	default:
		add("cloud %q is unknown: leave it empty", c.Cloud)
	}
	if c.Token == "" {
		add("token is missing: set DIGITALOCEAN_TOKEN (or --token, or the action's token input from a secret)")
	}
	if err := checkAPIURL(c.APIURL); err != nil {
		errs = append(errs, err)
	}
	if c.PackerTemplate != "" {
		add("packer-template: freshness reads verify/ and freshness/latest-version from a recipe folder: pass --dir, or nothing")
	}
	if c.Region != "" && !regionSlug.MatchString(c.Region) {
		add("region %q is not a region slug: use one such as nyc3, sfo3 or ams3", c.Region)
	}
	return errlist.Join(errs...)
}
