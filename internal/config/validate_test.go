package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
)

// valid is a configuration Validate accepts; each case breaks one thing.
func valid() *Config {
	c, _, err := Load([]string{"--dir", "examples/lemp", "--token", "dop_v1_x"}, func(string) string { return "" })
	if err != nil {
		panic(err)
	}
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // fragments of the error; nil means valid
	}{
		{"valid", func(*Config) {}, nil},
		{"local cloud needs no token", func(c *Config) { c.Token = ""; c.Cloud = "local" }, nil},
		{"host without token", func(c *Config) { c.Token = ""; c.Host = "203.0.113.7"; c.SSHKey = "k" }, nil},
		{"http to loopback is fine", func(c *Config) { c.APIURL = "http://127.0.0.1:3000/" }, nil},
		{"packer template", func(c *Config) { c.Dir = ""; c.PackerTemplate = "t.pkr.hcl"; c.PackerVars = []string{"a=b"} }, nil},
		{"build_base ignores snapshot name", func(c *Config) { c.Mode = ModeBuildBase; c.SnapshotName = "bad/name" }, nil},
		{"missing token", func(c *Config) { c.Token = "" }, []string{"token is missing", "DIGITALOCEAN_TOKEN", "--cloud local"}},
		{"unknown cloud", func(c *Config) { c.Cloud = "aws" }, []string{`cloud "aws"`}},
		{"neither dir nor template", func(c *Config) { c.Dir = "" }, []string{"no recipe"}},
		{"both dir and template", func(c *Config) { c.PackerTemplate = "t.json" }, []string{"both set"}},
		{"var without template", func(c *Config) { c.PackerVars = []string{"a=b"} }, []string{"only apply to packer-template"}},
		{"var not k=v", func(c *Config) { c.Dir = ""; c.PackerTemplate = "t"; c.PackerVars = []string{"ab"} }, []string{`var "ab"`}},
		{"unknown mode", func(c *Config) { c.Mode = "build" }, []string{`mode "build" is unknown`, "build_image"}},
		{"negative poll-interval", func(c *Config) { c.PollInterval = -time.Second }, []string{"poll-interval -1s is negative"}},
		{"bad snapshot chars", func(c *Config) { c.SnapshotName = "app/{{date}}" }, []string{"snapshot-name", "letters, digits"}},
		{"unknown placeholder", func(c *Config) { c.SnapshotName = "app-{{version}}" }, []string{"unknown placeholder {{version}}"}},
		{"unbalanced braces", func(c *Config) { c.SnapshotName = "app-{{date}" }, []string{"unbalanced braces"}},
		{"api-url not a URL", func(c *Config) { c.APIURL = "api.digitalocean.com" }, []string{"api-url", "http(s) URL"}},
		{"api-url with credentials", func(c *Config) { c.APIURL = "https://u:secretpw@api.example/" }, []string{"holds credentials"}},
		{"api-url plain http public", func(c *Config) { c.APIURL = "http://api.digitalocean.com/" }, []string{"unencrypted"}},
		{"negative timeout", func(c *Config) { c.Timeouts.SSH = -time.Second }, []string{"ssh-timeout is negative"}},
		{"active longer than total", func(c *Config) { c.Timeouts.Active = 3 * time.Hour }, []string{"longer than timeout"}},
		{"bad region", func(c *Config) { c.Region = "New York" }, []string{`region "New York"`}},
		{"empty size", func(c *Config) { c.Size = "" }, []string{"size is empty"}},
		{"empty image", func(c *Config) { c.Image = "" }, []string{"image is empty"}},
		{"empty ssh-user", func(c *Config) { c.SSHUser = "" }, []string{"ssh-user is empty"}},
		{"bad snapshot region", func(c *Config) { c.SnapshotRegions = []string{"nyc3", "europe"} }, []string{`"europe" is not a region`}},
		{"bad tag", func(c *Config) { c.SnapshotTags = []string{"has space"} }, []string{"snapshot-tags"}},
		{"bad droplet tag", func(c *Config) { c.DropletTags = []string{"a/b"} }, []string{"droplet-tags"}},
		{"bad env name", func(c *Config) { c.Env = map[string]string{"1A": "x"} }, []string{"not a variable name"}},
		{"apt option injection", func(c *Config) { c.APTPackages = []string{"-o=Foo"} }, []string{"apt-packages"}},
		{"host without key", func(c *Config) { c.Host = "203.0.113.7" }, []string{"ssh-key is not"}},
		{"host with user", func(c *Config) { c.Host = "root@203.0.113.7"; c.SSHKey = "k" }, []string{"not an IP address"}},
		{"key without host", func(c *Config) { c.SSHKey = "k" }, []string{"only used with host"}},
		{"force without host", func(c *Config) { c.Force = true }, []string{"force only applies"}},
		{"keep-droplet with host", func(c *Config) { c.Host = "h"; c.SSHKey = "k"; c.KeepDroplet = true }, []string{"keep-droplet"}},
		{"submit without version", func(c *Config) { c.SubmitAppID = "app" }, []string{"submit-version"}},
		{"submit in build_base", func(c *Config) { c.SubmitAppID = "app"; c.SubmitVersion = "1"; c.Mode = ModeBuildBase }, []string{"needs mode build_image"}},
		{"submit fields without app", func(c *Config) { c.SubmitVersion = "1" }, []string{"submit-app-id is not"}},
		{"provenance without manifest", func(c *Config) { c.Provenance = "p.json" }, []string{"manifest is not"}},
		{"sbom onto the manifest", func(c *Config) { c.Manifest = "m.json"; c.SBOM = "m.json" }, []string{`sbom "m.json" is also`}},
		{"several problems at once", func(c *Config) { c.Token = ""; c.Mode = "x"; c.Dir = "" },
			[]string{"token is missing", `mode "x"`, "no recipe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.modify(c)
			err := Validate(c)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.Contains(line, ":") {
					t.Errorf("error line %q does not say what to do", line)
				}
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error leaks a credential: %q", err)
			}
		})
	}
	if err := Validate(nil); err == nil {
		t.Error("Validate(nil) succeeded")
	}
}

func TestValidateJoinsEachProblemOnItsOwnLine(t *testing.T) {
	c := valid()
	c.Token, c.Mode, c.Cloud = "", "x", "aws"
	err := Validate(c)
	var joined *multierror.Error
	if !errors.As(err, &joined) || len(joined.Errors) != 3 {
		t.Fatalf("want 3 joined errors, got %v", err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Errorf("want each problem on its own line, got %d lines:\n%s", n, err)
	}
}

func TestRenderSnapshotName(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("X", 3600))
	tests := []struct {
		tmpl, want, err string
	}{
		{"", "mp-image-2025-03-04-ab12cd34", ""},
		{"{{date}}", "2025-03-04", ""},
		{"app {{ time }}", "app 040607", ""}, // UTC
		{"app-{{timestamp}}", "app-1741061167", ""},
		{"lemp-{{date}}-{{run_id}}", "lemp-2025-03-04-ab12cd34", ""},
		{"{{nope}}", "", "unknown placeholder"},
		{"a:b", "", "letters, digits"},
		{"-lead", "", "starting with a letter"},
		{strings.Repeat("a", 256), "", "under 255"},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			got, err := RenderSnapshotName(tt.tmpl, now, "ab12cd34")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
