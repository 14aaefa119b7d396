package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanSaysWhetherTheAptStepRuns: `mp-image plan` tells a template's
// author whether the tool runs its own apt update and full-upgrade before
// the provisioners, and why it does not, as the terminal shows it.
func TestPlanSaysWhetherTheAptStepRuns(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "t.json")
	// In the style of DigitalOcean's droplet-1-clicks templates.
	body := `{
  "builders": [{"type": "digitalocean", "image": "debian-12-x64", "region": "nyc3", "size": "s-1vcpu-1gb", "ssh_username": "root", "snapshot_name": "app"}],
  "provisioners": [
    {"type": "shell", "inline": ["cloud-init status --wait"]},
    {"type": "shell", "environment_vars": ["DEBIAN_FRONTEND=noninteractive"],
     "inline": ["apt -qqy update", "apt -qqy -o Dpkg::Options::='--force-confdef' full-upgrade"]}
  ]
}`
	if err := os.WriteFile(tmpl, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	recipeDir := filepath.Join(dir, "recipe")
	if err := os.MkdirAll(filepath.Join(recipeDir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(recipeDir, "scripts", "10-app.sh"), []byte("#!/bin/sh\napt-get -y upgrade\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const step = ". apt update, full-upgrade, install"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--packer-template", tmpl}, step + " (skipped: provisioner 2 (shell) at " + tmpl + ":5 upgrades the packages itself (inline line 2: apt -qqy -o Dpkg::Options::='--force-confdef' full-upgrade); set apt-upgrade: true to run the tool's step as well)\n"},
		{[]string{"--packer-template", tmpl, "--apt-upgrade", "true"}, step + "\n"},
		// apt-packages still need installing: the step runs (without the upgrade).
		{[]string{"--packer-template", tmpl, "--apt-packages", "jq"}, step + "\n"},
		{[]string{"--dir", recipeDir}, step + "\n"},
		{[]string{"--dir", recipeDir, "--apt-upgrade", "false"}, step + " (skipped: apt-upgrade is false)\n"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if code := Main(append([]string{"plan"}, c.args...), func(string) string { return "" }, &out, &errb); code != 0 {
			t.Fatalf("plan %v exited %d: %s", c.args, code, errb.String())
		}
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("plan %v; want the line\n%s\nin\n%s", c.args, c.want, out.String())
		}
	}
}
