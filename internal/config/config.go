// Package config holds the build's settings: one typed struct, filled from a
// single option table (flags, GitHub Action inputs, Woodpecker/Drone PLUGIN_*
// settings and environment variables all come from that table).
package config

import "time"

// Modes of a build, named as in the original Fabric workflow.
const (
	ModeBuildImage = "build_image" // provision, clean, validate, power off, snapshot
	ModeBuildBase  = "build_base"  // provision only: for PR dry-runs and looking around
)

// Config is everything a build knows before it starts.
type Config struct {
	Token  string // DigitalOcean API token (never printed)
	APIURL string // DigitalOcean-compatible API base URL
	Cloud  string // "" (use APIURL) or "local" (start the local cloud in-process)

	Dir            string   // recipe folder
	PackerTemplate string   // Packer template (JSON or HCL2) instead of a recipe folder
	PackerVars     []string // -var k=v
	PackerVarFiles []string // -var-file F
	TemplateBase   string   // base dir for template-relative paths (default: cwd)

	Vendor  string // /opt/<vendor>/ for first-login scripts
	SSHUser string // default root
	Mode    string // build_image | build_base

	Image  string // base image slug or id (default ubuntu-24-04-x64; debian-12-x64 on the local cloud)
	Region string
	Size   string

	APTPackages []string
	Env         map[string]string // environment for scripts (KEY=VALUE)

	SnapshotName    string // template: {{date}}, {{time}}, {{run_id}}, {{timestamp}}
	SnapshotRegions []string
	SnapshotTags    []string
	DropletTags     []string

	ApplicationName    string
	ApplicationVersion string

	KeepDroplet           bool
	KeepSnapshotOnFailure bool   // a snapshot made before a later failure: keep and report (true) or delete
	FailOn                string // fail | warn | never
	SecureErase           bool
	BootTest              bool
	SkipCleanup           bool // packer templates: skip our cleanup/validation after the template's own

	Host   string // existing server: provision it over SSH, no droplet created
	SSHKey string // private key file for Host
	Force  bool   // allow build_image on a host this tool already provisioned

	Manifest   string // path of the JSON manifest
	Report     string // path of the JSON validation report
	DotenvFile string // GitLab: write SNAPSHOT_ID=... here

	// Vendor Portal submission after a successful build_image.
	SubmitAppID     string
	SubmitVersion   string
	SubmitReason    string
	SubmitOSVersion string
	SubmitSoftware  []string // name[=version] entries

	Timeouts Timeouts

	// Local cloud settings when Cloud == "local".
	LocalCacheDir string
	LocalStateDir string
}

// Timeouts bound every wait of a build.
type Timeouts struct {
	Active   time.Duration // droplet new -> active
	SSH      time.Duration // SSH reachable and cloud-init done
	Script   time.Duration // one provisioning script (0: none)
	Idle     time.Duration // a remote command printing nothing this long is stopped
	Shutdown time.Duration // graceful shutdown before falling back to power_off
	Snapshot time.Duration // snapshot action
	Transfer time.Duration // region transfers
	Total    time.Duration // the whole build
}
