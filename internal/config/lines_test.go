package config

import (
	"slices"
	"strings"
	"testing"
)

// One --var is one variable, commas kept (Packer's -var); the action input
// takes one per line. Issue 14: regions=nyc3,sfo3 was split on the comma.
func TestVarKeepsCommas(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"flags", []string{"--var", "regions=nyc3,sfo3", "--var", "motd=a, b"}, nil, []string{"regions=nyc3,sfo3", "motd=a, b"}},
		{"action input", nil, map[string]string{"INPUT_VAR": "regions=nyc3,sfo3\n\nmotd=a, b\n"}, []string{"regions=nyc3,sfo3", "motd=a, b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load(tt.args, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.PackerVars, tt.want) {
				t.Errorf("vars %q, want %q", c.PackerVars, tt.want)
			}
		})
	}
}

// secret-env names variables; their values come from the environment only.
func TestResolveSecretEnv(t *testing.T) {
	env := map[string]string{"APP_SECRET": "v4lue-from-env"}
	c, _, err := Load([]string{"--secret-env", "APP_SECRET"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := ResolveSecretEnv(c, func(k string) string { return env[k] }); err != nil || c.SecretEnvValues["APP_SECRET"] != "v4lue-from-env" {
		t.Fatalf("ResolveSecretEnv = %v, values %v", err, c.SecretEnvValues)
	}
	for _, bad := range []struct{ names, want string }{{"MISSING", "not set in the environment"}, {"A=b", "not an environment variable name"}} {
		c, _, _ := Load([]string{"--secret-env", bad.names}, nil)
		if err := ResolveSecretEnv(c, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("secret-env %s: %v, want %q", bad.names, err, bad.want)
		}
	}
}
