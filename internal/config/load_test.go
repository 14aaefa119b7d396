package config

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env turns a map into an injected getenv, so no test touches the process environment.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(*Config) (got, want any)
	}{
		{"default", nil, nil,
			func(c *Config) (any, any) { return c.SnapshotName, DefaultSnapshotName }},
		{"alias DIGITALOCEAN_TOKEN", nil, map[string]string{"DIGITALOCEAN_TOKEN": "a"},
			func(c *Config) (any, any) { return c.Token, "a" }},
		{"first alias wins over second", nil, map[string]string{"DIGITALOCEAN_TOKEN": "a", "DIGITALOCEAN_ACCESS_TOKEN": "b"},
			func(c *Config) (any, any) { return c.Token, "a" }},
		{"second alias alone", nil, map[string]string{"DIGITALOCEAN_ACCESS_TOKEN": "b"},
			func(c *Config) (any, any) { return c.Token, "b" }},
		{"PLUGIN over alias", nil, map[string]string{"DIGITALOCEAN_TOKEN": "a", "PLUGIN_TOKEN": "p"},
			func(c *Config) (any, any) { return c.Token, "p" }},
		{"PLUGIN underscore name", nil, map[string]string{"PLUGIN_SNAPSHOT_NAME": "plug"},
			func(c *Config) (any, any) { return c.SnapshotName, "plug" }},
		{"INPUT hyphen over PLUGIN", nil, map[string]string{"PLUGIN_SNAPSHOT_NAME": "plug", "INPUT_SNAPSHOT-NAME": "gh"},
			func(c *Config) (any, any) { return c.SnapshotName, "gh" }},
		{"INPUT underscore accepted", nil, map[string]string{"INPUT_SNAPSHOT_NAME": "ghu"},
			func(c *Config) (any, any) { return c.SnapshotName, "ghu" }},
		{"INPUT hyphen over underscore", nil, map[string]string{"INPUT_SNAPSHOT_NAME": "ghu", "INPUT_SNAPSHOT-NAME": "gh"},
			func(c *Config) (any, any) { return c.SnapshotName, "gh" }},
		{"empty INPUT is unset", nil, map[string]string{"INPUT_TOKEN": "", "DIGITALOCEAN_TOKEN": "a"},
			func(c *Config) (any, any) { return c.Token, "a" }},
		{"blank INPUT is unset", nil, map[string]string{"INPUT_REGION": "  ", "PLUGIN_REGION": "ams3"},
			func(c *Config) (any, any) { return c.Region, "ams3" }},
		{"INPUT equal to default does not hide alias", nil,
			map[string]string{"INPUT_API-URL": DefaultAPIURL, "DIGITALOCEAN_API_URL": "http://127.0.0.1:8080/"},
			func(c *Config) (any, any) { return c.APIURL, "http://127.0.0.1:8080/" }},
		{"INPUT not default wins over alias", nil,
			map[string]string{"INPUT_API-URL": "https://other.example/", "DIGITALOCEAN_API_URL": "http://127.0.0.1:8080/"},
			func(c *Config) (any, any) { return c.APIURL, "https://other.example/" }},
		{"flag over INPUT", []string{"--snapshot-name", "cli"}, map[string]string{"INPUT_SNAPSHOT-NAME": "gh"},
			func(c *Config) (any, any) { return c.SnapshotName, "cli" }},
		{"single-dash flag", []string{"-region=sfo3"}, nil,
			func(c *Config) (any, any) { return c.Region, "sfo3" }},
		{"bool flag alone", []string{"--keep-droplet"}, nil,
			func(c *Config) (any, any) { return c.KeepDroplet, true }},
		{"bool flag false over env", []string{"--secure-erase=false"}, map[string]string{"INPUT_SECURE-ERASE": "true"},
			func(c *Config) (any, any) { return c.SecureErase, false }},
		{"bool default true", nil, nil,
			func(c *Config) (any, any) { return c.BootTest, true }},
		{"bool from INPUT", nil, map[string]string{"INPUT_KEEP-DROPLET": "true"},
			func(c *Config) (any, any) { return c.KeepDroplet, true }},
		{"bool yes from PLUGIN", nil, map[string]string{"PLUGIN_KEEP_DROPLET": "yes"},
			func(c *Config) (any, any) { return c.KeepDroplet, true }},
		{"list comma", nil, map[string]string{"INPUT_APT-PACKAGES": "nginx, mariadb-server,,php-fpm"},
			func(c *Config) (any, any) { return c.APTPackages, []string{"nginx", "mariadb-server", "php-fpm"} }},
		{"list newline", nil, map[string]string{"INPUT_SNAPSHOT-REGIONS": "nyc3\nsfo3\r\n\nams3\n"},
			func(c *Config) (any, any) { return c.SnapshotRegions, []string{"nyc3", "sfo3", "ams3"} }},
		{"list flags repeat and replace env", []string{"--snapshot-tags", "a", "--snapshot-tags", "b,c"}, map[string]string{"INPUT_SNAPSHOT-TAGS": "env"},
			func(c *Config) (any, any) { return c.SnapshotTags, []string{"a", "b", "c"} }},
		{"map lines keep commas", nil, map[string]string{"INPUT_ENV": "A=1,2\n# comment\nB = x=y\n"},
			func(c *Config) (any, any) { return c.Env, map[string]string{"A": "1,2", "B": " x=y"} }},
		{"map comma", nil, map[string]string{"PLUGIN_ENV": "A=1,B=2"},
			func(c *Config) (any, any) { return c.Env, map[string]string{"A": "1", "B": "2"} }},
		{"map flags one entry each", []string{"--env", "A=1,2", "--env", "B=3"}, map[string]string{"INPUT_ENV": "C=9"},
			func(c *Config) (any, any) { return c.Env, map[string]string{"A": "1,2", "B": "3"} }},
		{"duration default", nil, nil,
			func(c *Config) (any, any) { return c.Timeouts.Total, 2 * time.Hour }},
		{"duration env", nil, map[string]string{"INPUT_SSH-TIMEOUT": "90s"},
			func(c *Config) (any, any) { return c.Timeouts.SSH, 90 * time.Second }},
		{"duration zero", []string{"--script-timeout", "0"}, nil,
			func(c *Config) (any, any) { return c.Timeouts.Script, time.Duration(0) }},
		{"all defaults of timeouts", nil, nil,
			func(c *Config) (any, any) {
				return c.Timeouts, Timeouts{Active: 5 * time.Minute, SSH: 10 * time.Minute, Idle: 10 * time.Minute,
					Shutdown: 2 * time.Minute, Snapshot: time.Hour, Transfer: time.Hour, Total: 2 * time.Hour}
			}},
		{"string defaults", nil, nil,
			func(c *Config) (any, any) {
				return []string{c.SSHUser, c.Mode, c.Image, c.Region, c.Size, c.FailOn, c.APIURL},
					[]string{"root", ModeBuildImage, "ubuntu-24-04-x64", "nyc3", "s-1vcpu-1gb", "fail", DefaultAPIURL}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got, want := tt.check(c)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestLoadPositional(t *testing.T) {
	_, pos, err := Load([]string{"--dir", "x", "extra", "more"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pos, []string{"extra", "more"}) {
		t.Errorf("positional = %q", pos)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // every fragment must appear
	}{
		{"bad bool env", nil, map[string]string{"INPUT_KEEP-DROPLET": "maybe"}, []string{"keep-droplet", "INPUT_KEEP-DROPLET", "use true or false"}},
		{"bad duration flag", []string{"--timeout", "2 hours"}, nil, []string{"timeout", "Go syntax"}},
		{"bad map", nil, map[string]string{"PLUGIN_ENV": "novalue"}, []string{"env", "PLUGIN_ENV", "KEY=VALUE"}},
		{"unknown flag", []string{"--nope"}, nil, []string{"nope", "--help"}},
		{"unknown progress", nil, map[string]string{"INPUT_PROGRESS": "fancy"}, []string{"progress", `"fancy" is unknown`, "auto, tty or plain"}},
		{"all errors together", nil, map[string]string{"INPUT_KEEP-DROPLET": "maybe", "INPUT_TIMEOUT": "x"}, []string{"keep-droplet", "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(tt.args, env(tt.env))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadHelp(t *testing.T) {
	if _, _, err := Load([]string{"--help"}, env(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
}

func TestUsageListsEveryOption(t *testing.T) {
	var b bytes.Buffer
	Usage(&b)
	out := b.String()
	for _, o := range Options() {
		for _, want := range append([]string{"--" + o.Flag(), o.Help}, o.EnvNames()...) {
			if !strings.Contains(out, want) {
				t.Errorf("--help lacks %q for %s", want, o.Name)
			}
		}
	}
}

func TestTableIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	envSeen := map[string]string{}
	for _, o := range Options() {
		if seen[o.Name] {
			t.Errorf("duplicate option %s", o.Name)
		}
		seen[o.Name] = true
		if o.Name != strings.ToLower(o.Name) || strings.ContainsAny(o.Name, "_ ") {
			t.Errorf("%s is not kebab-case", o.Name)
		}
		if o.Help == "" || o.set == nil || o.Kind == "" {
			t.Errorf("%s lacks help, setter or kind", o.Name)
		}
		if (o.Kind == KindMap) != (o.add != nil) {
			t.Errorf("%s: only maps have an entry adder", o.Name)
		}
		for _, e := range o.EnvNames() {
			if other, ok := envSeen[e]; ok {
				t.Errorf("env %s used by %s and %s", e, other, o.Name)
			}
			envSeen[e] = o.Name
		}
		if err := o.Set(&Config{}, o.Default); err != nil {
			t.Errorf("default of %s does not parse: %v", o.Name, err)
		}
	}
	// Every field of Config is reachable from the table: a set value must change it.
	for _, o := range allOptions() {
		var c Config
		v := sample(o)
		if err := o.Set(&c, v); err != nil {
			t.Fatalf("%s: %v", o.Name, err)
		}
		if reflect.DeepEqual(c, Config{}) {
			t.Errorf("setting %s changes no field of Config", o.Name)
		}
	}
}

func TestEveryConfigFieldHasAnOption(t *testing.T) {
	c := Config{Given: map[string]bool{"set by the loader": true}}
	for _, o := range allOptions() {
		if err := o.Set(&c, sample(o)); err != nil {
			t.Fatal(err)
		}
	}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := 0; i < v.NumField(); i++ {
			f, name := v.Field(i), path+v.Type().Field(i).Name
			if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(time.Time{}) {
				walk(f, name+".")
				continue
			}
			if f.IsZero() && v.Type().Field(i).Tag.Get("config") != "derived" {
				t.Errorf("Config.%s has no option in the table", name)
			}
		}
	}
	walk(reflect.ValueOf(c), "")
}

// allOptions is the build's table and every subcommand's own options.
func allOptions() []Option {
	opts := Options()
	for cmd := range commands {
		own, _ := CommandOptions(cmd)
		for _, o := range own {
			if _, inTable := Lookup(o.Name); !inTable || o.Name == "fail-on" && cmd == "lint" {
				opts = append(opts, o)
			}
		}
	}
	return opts
}

// sample is a value of o's kind that differs from the zero value.
func sample(o Option) string {
	switch o.Name { // one of a few values
	case "fail-on":
		return "never"
	case "apt-upgrade":
		return "false"
	case "progress":
		return "plain"
	}
	return map[Kind]string{KindString: "x", KindBool: "true", KindList: "a", KindLines: "a", KindMap: "A=1", KindDuration: "7m", KindInt: "7"}[o.Kind]
}

// TestCommandOptions: a subcommand's option that the build's table also has
// is the same option (name, environment names, kind, check), only its help
// may speak of the subcommand; --help lists every one; and fail-on is
// checked in one place, the same for build and validate.
func TestCommandOptions(t *testing.T) {
	for cmd := range commands {
		opts, ok := CommandOptions(cmd)
		if !ok || len(opts) == 0 {
			t.Fatalf("%s has no options", cmd)
		}
		seen := map[string]bool{}
		var help bytes.Buffer
		CommandUsage(cmd, &help)
		for _, o := range opts {
			if seen[o.Name] {
				t.Errorf("%s: option %s twice", cmd, o.Name)
			}
			seen[o.Name] = true
			if o.Help == "" || o.set == nil || o.Kind == "" {
				t.Errorf("%s: %s lacks help, setter or kind", cmd, o.Name)
			}
			if err := o.Set(&Config{}, o.Default); err != nil {
				t.Errorf("%s: default of %s does not parse: %v", cmd, o.Name, err)
			}
			if b, inTable := Lookup(o.Name); inTable && !(cmd == "lint" && o.Name == "fail-on") {
				if !reflect.DeepEqual(b.EnvNames(), o.EnvNames()) || b.Kind != o.Kind || b.Default != o.Default || b.Secret != o.Secret {
					t.Errorf("%s: --%s differs from the build's option of that name", cmd, o.Name)
				}
			}
			if !strings.Contains(help.String(), "--"+o.Flag()) || !strings.Contains(help.String(), o.Help) {
				t.Errorf("%s --help lacks --%s", cmd, o.Name)
			}
		}
	}
	_, _, errBuild := Load([]string{"--fail-on", "sometimes"}, nil)
	_, _, errValidate := LoadCommand("validate", []string{"--fail-on", "sometimes"}, nil)
	if errBuild == nil || errValidate == nil || errBuild.Error() != errValidate.Error() {
		t.Errorf("fail-on checked differently:\nbuild:    %v\nvalidate: %v", errBuild, errValidate)
	}
	env := func(k string) string { return map[string]string{"INPUT_FAIL_ON": "sometimes"}[k] }
	if _, _, err := LoadCommand("validate", nil, env); err == nil || !strings.Contains(err.Error(), "fail, warn or never") {
		t.Errorf("fail-on from the environment: %v", err)
	}
	if _, _, err := LoadCommand("lint", []string{"--fail-on", "fail"}, nil); err == nil || !strings.Contains(err.Error(), "error, warning, info or never") {
		t.Errorf("lint's fail-on took a validation verdict: %v", err)
	}
}

// TestValidateSSHUser: validate reads the build's ssh-user (its old --user is gone).
func TestValidateSSHUser(t *testing.T) {
	c, _, err := LoadCommand("validate", []string{"--ssh-user", "admin"}, nil)
	if err != nil || c.SSHUser != "admin" {
		t.Fatalf("--ssh-user: %+v %v", c, err)
	}
	c, _, err = LoadCommand("validate", nil, func(k string) string { return map[string]string{"PLUGIN_SSH_USER": "deploy"}[k] })
	if err != nil || c.SSHUser != "deploy" {
		t.Fatalf("PLUGIN_SSH_USER: %v %v", c.SSHUser, err)
	}
	if _, _, err := LoadCommand("validate", []string{"--user", "admin"}, nil); err == nil {
		t.Error("--user still accepted")
	}
}

// TestGiven: submit tells a flag left out from one given as ”.
func TestGiven(t *testing.T) {
	c, _, err := LoadCommand("submit", []string{"--version", "", "--app-id", "a"}, func(k string) string {
		return map[string]string{"PLUGIN_REASON": "fixes"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"version": true, "app-id": true, "reason": true, "os-version": false, "software": false} {
		if c.Given[name] != want {
			t.Errorf("Given[%s] = %v, want %v", name, c.Given[name], want)
		}
	}
}
