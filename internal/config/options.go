package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind says how an option's text value is parsed.
type Kind string

// The kinds of option values.
const (
	KindString   Kind = "string"
	KindBool     Kind = "bool"
	KindList     Kind = "list"     // comma or newline separated
	KindLines    Kind = "lines"    // one value per line (or per repeated flag), commas kept
	KindMap      Kind = "map"      // KEY=VALUE lines, or comma separated when on one line
	KindDuration Kind = "duration" // Go syntax: 90s, 20m, 2h
	KindInt      Kind = "int"
)

// DefaultAPIURL is DigitalOcean's public API.
const DefaultAPIURL = "https://api.digitalocean.com/"

// DefaultSnapshotName names snapshots so that two runs on the same day never collide.
const DefaultSnapshotName = "mp-image-{{date}}-{{run_id}}"

// Option is one setting of a build, the same under every name it arrives by:
// the flag --Name, the GitHub input Name (INPUT_NAME, hyphen kept), the
// Woodpecker/Drone setting PLUGIN_NAME (hyphen -> underscore) and Env aliases.
type Option struct {
	Name    string   // kebab-case; also the flag and the action input name
	Env     []string // extra environment aliases, lowest precedence above the default
	Default string   // as text, parsed like any other value
	Help    string   // one line
	Kind    Kind
	Secret  bool // never printed; the pipeline masks it

	set func(c *Config, v string) error
	add func(c *Config, entry string) error // maps: one KEY=VALUE from a repeated flag
}

// Flag is the command-line flag name (without dashes).
func (o Option) Flag() string { return o.Name }

// InputEnv is the variable a GitHub runner sets for the input: upper case, hyphen kept.
func (o Option) InputEnv() string { return "INPUT_" + strings.ToUpper(o.Name) }

// InputEnvUnderscore is the underscore spelling of InputEnv that some runners
// (act, composite wrappers) use.
func (o Option) InputEnvUnderscore() string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(o.Name, "-", "_"))
}

// PluginEnv is the Woodpecker/Drone setting variable.
func (o Option) PluginEnv() string {
	return "PLUGIN_" + strings.ToUpper(strings.ReplaceAll(o.Name, "-", "_"))
}

// EnvNames lists every environment variable the option is read from, highest precedence first.
func (o Option) EnvNames() []string {
	names := []string{o.InputEnv()}
	if u := o.InputEnvUnderscore(); u != o.InputEnv() {
		names = append(names, u)
	}
	names = append(names, o.PluginEnv())
	return append(names, o.Env...)
}

// Set parses v by the option's kind and stores it in c.
func (o Option) Set(c *Config, v string) error {
	if err := o.set(c, v); err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	return nil
}

// Options is the table of every setting, in the order --help and the docs show them.
func Options() []Option {
	return []Option{
		// Where the API is and who we are.
		str("token", "", "DigitalOcean API token with read/write scope; masked in all output.",
			func(c *Config) *string { return &c.Token }, "DIGITALOCEAN_TOKEN", "DIGITALOCEAN_ACCESS_TOKEN").secret(),
		str("api-url", DefaultAPIURL, "DigitalOcean-compatible API base URL (for example a local cloud started with `mp-image local-cloud`).",
			func(c *Config) *string { return &c.APIURL }, "DIGITALOCEAN_API_URL"),
		str("cloud", "", "Set to `local` to start the local cloud in-process instead of using api-url; no token needed.",
			func(c *Config) *string { return &c.Cloud }),

		// What to build.
		str("dir", "", "Recipe folder (files/, scripts/, per-instance/, first-login/). Exactly one of dir and packer-template.",
			func(c *Config) *string { return &c.Dir }),
		str("packer-template", "", "Packer template (JSON or HCL2) to build instead of a recipe folder.",
			func(c *Config) *string { return &c.PackerTemplate }),
		lines("var", "", "Packer variables as name=value: one per line, or one per --var (a value may hold commas, as with packer -var).",
			func(c *Config) *[]string { return &c.PackerVars }),
		list("var-file", "", "Packer variable files, comma or newline separated.",
			func(c *Config) *[]string { return &c.PackerVarFiles }),
		str("template-base", "", "Directory that template-relative paths resolve against (default: the working directory).",
			func(c *Config) *string { return &c.TemplateBase }),
		str("vendor", "", "Vendor name: first-login scripts are installed into /opt/<vendor>/.",
			func(c *Config) *string { return &c.Vendor }),
		str("ssh-user", "root", "User to connect as over SSH: root, the only one supported (the build does not use sudo); set here, it wins over a template's ssh_username.",
			func(c *Config) *string { return &c.SSHUser }),
		str("mode", ModeBuildImage, "build_image (provision, clean, validate, snapshot) or build_base (provision only, for dry runs).",
			func(c *Config) *string { return &c.Mode }),

		// The build droplet.
		str("image", "ubuntu-24-04-x64", "Base image slug or ID of the build droplet.",
			func(c *Config) *string { return &c.Image }),
		str("region", "nyc3", "Region slug of the build droplet.",
			func(c *Config) *string { return &c.Region }),
		str("size", "s-1vcpu-1gb", "Size slug of the build droplet; a larger disk limits which plans can use the image.",
			func(c *Config) *string { return &c.Size }),
		list("apt-packages", "", "Extra apt packages to install, comma or newline separated.",
			func(c *Config) *[]string { return &c.APTPackages }),
		str("apt-upgrade", "auto", "Run apt update and full-upgrade before provisioning: auto (yes, unless a Packer template upgrades itself), true or false.",
			func(c *Config) *string { return &c.AptUpgrade }).oneOf(AptUpgradeAuto, "true", "false"),
		mapping("env", "", "Environment for provisioning scripts: KEY=VALUE lines (or comma separated).",
			func(c *Config) *map[string]string { return &c.Env }),
		list("secret-env", "", "Names of environment variables (set from secrets) whose values reach scripts through a file deleted before they start, never a command line; masked like the token.",
			func(c *Config) *[]string { return &c.SecretEnv }),

		// The snapshot.
		str("snapshot-name", DefaultSnapshotName, "Snapshot name template: {{date}}, {{time}}, {{timestamp}}, {{run_id}}.",
			func(c *Config) *string { return &c.SnapshotName }),
		list("snapshot-regions", "", "Regions to transfer the snapshot to, comma or newline separated.",
			func(c *Config) *[]string { return &c.SnapshotRegions }),
		list("snapshot-tags", "", "Tags for the snapshot, comma or newline separated.",
			func(c *Config) *[]string { return &c.SnapshotTags }),
		list("droplet-tags", "", "Extra tags for the build droplet (the run-id tag is always added).",
			func(c *Config) *[]string { return &c.DropletTags }),
		str("application-name", "", "application_name written to /var/lib/digitalocean/application.info.",
			func(c *Config) *string { return &c.ApplicationName }),
		str("application-version", "", "application_version written to /var/lib/digitalocean/application.info.",
			func(c *Config) *string { return &c.ApplicationVersion }),

		// Behaviour.
		boolean("keep-droplet", "false", "Keep the build droplet (build_base: its ID, IP, SSH command and key path are printed).",
			func(c *Config) *bool { return &c.KeepDroplet }),
		boolean("keep-snapshot-on-failure", "false", "Keep a snapshot made before a later step failed (default: delete it). A snapshot that passed validation and failed only the boot test or the submission is kept either way, and reported.",
			func(c *Config) *bool { return &c.KeepSnapshotOnFailure }),
		str("fail-on", "fail", "Validation result that fails the build: fail, warn or never.",
			func(c *Config) *string { return &c.FailOn }).oneOf("fail", "warn", "never"),
		boolean("secure-erase", "true", "Overwrite free disk space and logs during cleanup, as the Marketplace asks.",
			func(c *Config) *bool { return &c.SecureErase }),
		boolean("boot-test", "true", "Boot a droplet from the new snapshot and check it before reporting success.",
			func(c *Config) *bool { return &c.BootTest }),
		boolean("skip-cleanup", "false", "Packer templates: skip mp-image's cleanup and validation after the template's own (the search of the disk for the build's secrets still runs).",
			func(c *Config) *bool { return &c.SkipCleanup }),

		// An existing server instead of a new droplet.
		str("host", "", "Provision this existing server over SSH instead of creating a droplet.",
			func(c *Config) *string { return &c.Host }),
		str("ssh-key", "", "Private key file for host.",
			func(c *Config) *string { return &c.SSHKey }),
		boolean("force", "false", "Allow build_image on a host this tool already provisioned.",
			func(c *Config) *bool { return &c.Force }),

		// Where results go.
		str("manifest", "", "Write a JSON manifest of the build to this file.",
			func(c *Config) *string { return &c.Manifest }),
		str("report", "", "Write the JSON validation report to this file.",
			func(c *Config) *string { return &c.Report }),
		str("dotenv", "", "Write SNAPSHOT_ID=... lines to this file (GitLab artifacts:reports:dotenv).",
			func(c *Config) *string { return &c.DotenvFile }),
		str("sbom", "", "Write the image's SBOM (installed packages as the snapshot holds them, CycloneDX 1.6 JSON) to this file.",
			func(c *Config) *string { return &c.SBOM }),
		str("provenance", "", "Write an unsigned in-toto SLSA v1 provenance statement about the manifest and the SBOM to this file.",
			func(c *Config) *string { return &c.Provenance }),
		str("log-file", "", "Write the whole transcript (every remote line, timestamped, redacted) here (default: a new file in the temporary directory; its path is printed).",
			func(c *Config) *string { return &c.LogFile }),
		str("progress", "auto", "How progress shows: tty (one live line per step), plain (one line per event, for CI logs) or auto (tty on a terminal).",
			func(c *Config) *string { return &c.Progress }).oneOf("auto", "tty", "plain"),
		boolean("quiet", "false", "Print only warnings, failures and the results (the log file still gets everything).",
			func(c *Config) *bool { return &c.Quiet }),

		// Vendor Portal submission after a successful build_image.
		str("submit-app-id", "", "Vendor Portal app ID: submit the new snapshot as an update after build_image.",
			func(c *Config) *string { return &c.SubmitAppID }),
		str("submit-version", "", "Version of the submitted update.",
			func(c *Config) *string { return &c.SubmitVersion }),
		str("submit-reason", "", "Reason for the update shown to reviewers.",
			func(c *Config) *string { return &c.SubmitReason }),
		str("submit-os-version", "", "OS version of the submitted image, for example 24.04.",
			func(c *Config) *string { return &c.SubmitOSVersion }),
		list("submit-software", "", "Included software as name[=version], comma or newline separated.",
			func(c *Config) *[]string { return &c.SubmitSoftware }),

		// mp-image freshness.
		str("command", "build", "What the action runs: build, or freshness (should the snapshot in the snapshot input be rebuilt? outputs stale and reasons).",
			func(c *Config) *string { return &c.Command }),
		str("snapshot", "", "freshness: the ID of the listed image's snapshot to check.",
			func(c *Config) *string { return &c.FreshnessSnapshot }),

		// Timeouts.
		duration("active-timeout", "5m", "Wait this long for the droplet to become active.",
			func(c *Config) *time.Duration { return &c.Timeouts.Active }),
		duration("ssh-timeout", "10m", "Wait this long for SSH and cloud-init.",
			func(c *Config) *time.Duration { return &c.Timeouts.SSH }),
		duration("script-timeout", "0", "Stop one provisioning script after this long (0: no limit).",
			func(c *Config) *time.Duration { return &c.Timeouts.Script }),
		duration("idle-timeout", "10m", "Stop a remote command that prints nothing for this long.",
			func(c *Config) *time.Duration { return &c.Timeouts.Idle }),
		duration("shutdown-timeout", "2m", "Wait this long for a graceful shutdown before forcing power off.",
			func(c *Config) *time.Duration { return &c.Timeouts.Shutdown }),
		duration("snapshot-timeout", "60m", "Wait this long for the snapshot.",
			func(c *Config) *time.Duration { return &c.Timeouts.Snapshot }),
		duration("transfer-timeout", "60m", "Wait this long for snapshot transfers to other regions.",
			func(c *Config) *time.Duration { return &c.Timeouts.Transfer }),
		duration("timeout", "2h", "Bound on the build's steps; the cleanups run after it, for at most 2 minutes more.",
			func(c *Config) *time.Duration { return &c.Timeouts.Total }),
		duration("poll-interval", "0", "Poll the API at this fixed interval instead of the adaptive schedule (0: adaptive; Packer polls every 3s).",
			func(c *Config) *time.Duration { return &c.PollInterval }),

		// The local cloud.
		str("local-cache-dir", "", "Local cloud: where base root filesystems are cached (default: the user cache dir).",
			func(c *Config) *string { return &c.LocalCacheDir }),
		str("local-state-dir", "", "Local cloud: where machines and snapshots live (default: a temporary dir).",
			func(c *Config) *string { return &c.LocalStateDir }),
	}
}

func (o Option) secret() Option { o.Secret = true; return o }

// oneOf makes every value outside values an error, wherever it comes from:
// the one check of the option.
func (o Option) oneOf(values ...string) Option {
	set := o.set
	o.set = func(c *Config, v string) error {
		if v = strings.TrimSpace(v); !slices.Contains(values, v) {
			return fmt.Errorf("%q is unknown: use %s or %s", v, strings.Join(values[:len(values)-1], ", "), values[len(values)-1])
		}
		return set(c, v)
	}
	return o
}

// help gives an option of the build's table the words another subcommand needs.
func (o Option) help(h string) Option { o.Help = h; return o }

func integer(name, def, help string, field func(*Config) *int, env ...string) Option {
	return Option{Name: name, Default: def, Help: help, Kind: KindInt, Env: env,
		set: func(c *Config, v string) error {
			v = strings.TrimSpace(v)
			if v == "" {
				*field(c) = 0
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("invalid number %q", v)
			}
			*field(c) = n
			return nil
		}}
}

func str(name, def, help string, field func(*Config) *string, env ...string) Option {
	return Option{Name: name, Default: def, Help: help, Kind: KindString, Env: env,
		set: func(c *Config, v string) error { *field(c) = strings.TrimSpace(v); return nil }}
}

func boolean(name, def, help string, field func(*Config) *bool, env ...string) Option {
	return Option{Name: name, Default: def, Help: help, Kind: KindBool, Env: env,
		set: func(c *Config, v string) error {
			b, err := ParseBool(v)
			if err != nil {
				return err
			}
			*field(c) = b
			return nil
		}}
}

func list(name, def, help string, field func(*Config) *[]string, env ...string) Option {
	return Option{Name: name, Default: def, Help: help, Kind: KindList, Env: env,
		set: func(c *Config, v string) error { *field(c) = ParseList(v); return nil }}
}

// lines is a list whose values may hold commas: Packer's -var is one
// variable per flag, so regions=nyc3,sfo3 stays one value.
func lines(name, def, help string, field func(*Config) *[]string, env ...string) Option {
	return Option{Name: name, Default: def, Help: help, Kind: KindLines, Env: env,
		set: func(c *Config, v string) error { *field(c) = ParseLines(v); return nil }}
}

// ParseLines reads one value per line; blank lines are skipped.
func ParseLines(v string) []string {
	var out []string
	for _, l := range strings.Split(v, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func mapping(name, def, help string, field func(*Config) *map[string]string, env ...string) Option {
	return Option{Name: name, Default: def, Help: help, Kind: KindMap, Env: env,
		set: func(c *Config, v string) error {
			m, err := ParseMap(v)
			if err != nil {
				return err
			}
			*field(c) = m
			return nil
		},
		add: func(c *Config, entry string) error {
			k, val, ok := strings.Cut(entry, "=")
			if k = strings.TrimSpace(k); !ok || k == "" {
				return fmt.Errorf("entry %q is not KEY=VALUE: pass --%s KEY=VALUE once per entry", entry, name)
			}
			if *field(c) == nil {
				*field(c) = map[string]string{}
			}
			(*field(c))[k] = val
			return nil
		}}
}

func duration(name, def, help string, field func(*Config) *time.Duration, env ...string) Option {
	return Option{Name: name, Default: def, Help: help, Kind: KindDuration, Env: env,
		set: func(c *Config, v string) error {
			v = strings.TrimSpace(v)
			if v == "0" || v == "" {
				*field(c) = 0
				return nil
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("invalid duration %q: use Go syntax such as 90s, 20m or 2h", v)
			}
			*field(c) = d
			return nil
		}}
}

// ParseBool accepts what people write in YAML and shells: true/false, yes/no, on/off, 1/0.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "on", "1", "t", "y":
		return true, nil
	case "false", "no", "off", "0", "f", "n", "":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q: use true or false", v)
}

// ParseList splits on commas and newlines, trimming blanks; an empty input gives nil.
func ParseList(v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ParseMap reads KEY=VALUE entries: one per line when the text has several
// lines (so values may hold commas), else comma separated. Blank lines and
// lines starting with # are ignored.
func ParseMap(v string) (map[string]string, error) {
	v = strings.ReplaceAll(v, "\r\n", "\n")
	var entries []string
	if strings.Contains(strings.TrimSpace(v), "\n") {
		entries = strings.Split(v, "\n")
	} else {
		entries = strings.Split(v, ",")
	}
	var m map[string]string
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" || strings.HasPrefix(e, "#") {
			continue
		}
		k, val, ok := strings.Cut(e, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("entry %q is not KEY=VALUE: write one KEY=VALUE per line", e)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = val
	}
	return m, nil
}

// Lookup finds an option of the build's table by name.
func Lookup(name string) (Option, bool) {
	for _, o := range Options() {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}

// formatDefault shows a default for humans: empty shown as nothing, durations as given.
func formatDefault(o Option) string {
	if o.Kind == KindBool && o.Default == "" {
		return "false"
	}
	return o.Default
}
