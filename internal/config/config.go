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

// AptUpgradeAuto runs the tool's apt step unless a Packer template upgrades
// the packages itself.
const AptUpgradeAuto = "auto"

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
	AptUpgrade  string            // auto | true | false: the tool's own apt update and full-upgrade
	Env         map[string]string // environment for scripts (KEY=VALUE)
	// SecretEnv names environment variables whose values reach scripts
	// through a file only, never a command line; SecretEnvValues holds them.
	SecretEnv       []string
	SecretEnvValues map[string]string `config:"derived"` // read from the environment by ResolveSecretEnv
	// Explicit holds the options the user set (flag or environment), so a
	// Packer template's builder settings fill only the others.
	Explicit map[string]bool `config:"derived"`

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
	SBOM       string // path of the CycloneDX SBOM of the image
	Provenance string // path of the in-toto SLSA provenance statement
	LogFile    string // the transcript ("" : a new file in the temporary directory)
	Progress   string // auto | tty | plain
	Quiet      bool   // warnings, failures and results only

	// Vendor Portal submission after a successful build_image.
	SubmitAppID     string
	SubmitVersion   string
	SubmitReason    string
	SubmitOSVersion string
	SubmitSoftware  []string // name[=version] entries

	// mp-image freshness (the action's command input picks it).
	Command           string // build (default) or freshness
	FreshnessSnapshot string // the listed image's snapshot ID

	Timeouts Timeouts
	// PollInterval polls the API at a fixed interval (0: the adaptive schedule).
	PollInterval time.Duration

	// Local cloud settings when Cloud == "local".
	LocalCacheDir string
	LocalStateDir string

	Sub Sub // what only the other subcommands read

	// Given names the options a flag or the environment set (the rest
	// have their default), for settings where "left out" means something.
	Given map[string]bool
}

// Sub holds the options of the subcommands other than build and plan that
// the build does not have (see CommandOptions).
type Sub struct {
	HostKey       string // validate: the host key to expect, an authorized_keys line
	SkipAptUpdate bool   // validate
	LintFailOn    string // lint: error | warning | info | never
	NoShellcheck  bool   // lint

	OlderThan time.Duration // reap
	Tag       string
	Yes       bool

	AppID     string // submit
	ImageID   int
	Version   string
	Reason    string
	OSVersion string
	Software  []string
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
