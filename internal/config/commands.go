package config

import (
	"fmt"
	"io"
	"time"
)

// commands are the subcommands CommandOptions knows, with what their --help
// says first.
var commands = map[string]string{
	"validate": "Runs the Marketplace checks against a server over SSH.",
	"lint":     "Checks a recipe folder or a Packer template for problems; needs no credentials.",
	"reap":     "Lists what killed runs left behind (droplets, keys, pending snapshots); --yes deletes it.",
	"submit": "Submits a snapshot to the Vendor Portal as an app update and prints the app's resulting status.\n" +
		"A flag left out keeps the listing's value; a flag given as '' clears it.",
}

// CommandOptions are the options of a subcommand other than build and plan:
// options of the build's table by name (so the flag, the INPUT_/PLUGIN_
// names, the aliases and the check are the same everywhere) and its own.
// ok is false for a subcommand that reads no options through the table.
func CommandOptions(cmd string) (opts []Option, ok bool) {
	pick := func(name, help string) Option {
		o, found := Lookup(name)
		if !found {
			panic("config: no option " + name) // a bug in the lists below
		}
		if help != "" {
			o = o.help(help)
		}
		return o
	}
	switch cmd {
	case "validate":
		return []Option{
			pick("host", "Server to check over SSH (host or host:port)."),
			pick("ssh-key", "Private key file to log in with."),
			pick("ssh-user", ""),
			str("host-key", "", "Expected host key (an authorized_keys-style line); without it the key is not checked.",
				func(c *Config) *string { return &c.Sub.HostKey }),
			pick("fail-on", "Validation result that makes validate exit 1: fail, warn or never."),
			pick("report", ""),
			boolean("skip-apt-update", "false", "Do not refresh the package lists before counting security updates.",
				func(c *Config) *bool { return &c.Sub.SkipAptUpdate }),
		}, true
	case "lint":
		return []Option{
			pick("dir", "Recipe folder to lint. Exactly one of dir and packer-template."),
			pick("packer-template", "Packer template (JSON or HCL2) to lint instead of a recipe folder."),
			pick("template-base", ""),
			// Named as validation's fail-on, but lint's findings have severities.
			str("fail-on", "error", "Exit 1 on findings of this severity or worse: error, warning, info or never.",
				func(c *Config) *string { return &c.Sub.LintFailOn }).oneOf("error", "warning", "info", "never"),
			boolean("no-shellcheck", "false", "Do not run shellcheck even when it is installed.",
				func(c *Config) *bool { return &c.Sub.NoShellcheck }),
		}, true
	case "reap":
		return []Option{
			pick("token", ""),
			pick("api-url", ""),
			duration("older-than", "1h", "Only what was created at least this long ago (a running build is younger).",
				func(c *Config) *time.Duration { return &c.Sub.OlderThan }),
			// The tag every resource of the tool carries (pipeline.ToolTag).
			str("tag", "mp-image", "Tag to look for (a run's tag mp-image-run-<id> narrows it to one run).",
				func(c *Config) *string { return &c.Sub.Tag }),
			boolean("yes", "false", "Delete what was found (default: only list it).",
				func(c *Config) *bool { return &c.Sub.Yes }),
		}, true
	case "submit":
		return []Option{
			pick("token", ""),
			pick("api-url", ""),
			str("app-id", "", "Vendor Portal app ID (from the app's URL in the portal); required.",
				func(c *Config) *string { return &c.Sub.AppID }),
			integer("image-id", "", "Snapshot image ID to submit (the build's snapshot-id); required.",
				func(c *Config) *int { return &c.Sub.ImageID }),
			str("version", "", "Version of the update; left out, the listing keeps its value, '' clears it.",
				func(c *Config) *string { return &c.Sub.Version }),
			str("reason", "", "Reason for the update, shown to reviewers.",
				func(c *Config) *string { return &c.Sub.Reason }),
			str("os-version", "", "OS version of the image, for example 24.04.",
				func(c *Config) *string { return &c.Sub.OSVersion }),
			list("software", "", "Included software as name[=version][;website=URL;notes=URL;license=TYPE;licenseLink=URL], "+
				"comma separated or repeated; replaces the whole list ('' clears it).",
				func(c *Config) *[]string { return &c.Sub.Software }),
		}, true
	}
	return nil, false
}

// LoadCommand is Load for a subcommand: its options only, read the same way.
func LoadCommand(cmd string, args []string, getenv func(string) string) (*Config, []string, error) {
	opts, ok := CommandOptions(cmd)
	if !ok {
		return nil, nil, fmt.Errorf("config: %s reads no options through the table", cmd)
	}
	return load(opts, args, getenv)
}

// CommandUsage writes a subcommand's --help from its options.
func CommandUsage(cmd string, w io.Writer) {
	opts, _ := CommandOptions(cmd)
	usage(w, cmd, commands[cmd], opts)
}
