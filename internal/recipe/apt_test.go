package recipe

import "testing"

func TestPackageCommand(t *testing.T) {
	cases := []struct {
		script  string
		line    int
		cmd     string
		upgrade bool
	}{
		// What droplet-1-clicks templates and their vendors write.
		{"#!/bin/sh\napt -qqy update\napt -qqy -o Dpkg::Options::='--force-confdef' -o Dpkg::Options::='--force-confold' full-upgrade\n",
			3, "apt -qqy -o Dpkg::Options::='--force-confdef' -o Dpkg::Options::='--force-confold' full-upgrade", true},
		{"#!/bin/bash -eux\nexport DEBIAN_FRONTEND=noninteractive\napt-get update && apt-get -y upgrade\n", 3, "apt-get update && apt-get -y upgrade", true},
		{"sudo DEBIAN_FRONTEND=noninteractive /usr/bin/apt-get -y dist-upgrade", 1, "sudo DEBIAN_FRONTEND=noninteractive /usr/bin/apt-get -y dist-upgrade", true},
		{"apt-get update \\\n  && apt-get -y \\\n  upgrade\n", 1, "apt-get update    && apt-get -y    upgrade", true},
		{"dnf -y upgrade --refresh", 1, "dnf -y upgrade --refresh", true},
		{"echo $(apt-get -s upgrade | wc -l)", 1, "echo $(apt-get -s upgrade | wc -l)", true},
		// Refreshing the lists alone is no upgrade.
		{"#!/bin/sh\napt-get -y update\napt-get -y install nginx\n", 2, "apt-get -y update", false},
		// Comments, words and other tools are not commands.
		{"#!/bin/sh\n# apt-get -y upgrade\necho 'run apt-get upgrade later' # apt upgrade\n", 0, "", false},
		{"apt-get -y install unattended-upgrades\napt-mark hold upgrade", 0, "", false},
		{"pip install --upgrade pip", 0, "", false},
		{"apt-cache policy upgrade", 0, "", false},
	}
	for _, c := range cases {
		line, cmd, upgrade := packageCommand([]byte(c.script))
		if line != c.line || cmd != c.cmd || upgrade != c.upgrade {
			t.Errorf("%q:\n got line %d %q upgrade=%v\nwant line %d %q upgrade=%v", c.script, line, cmd, upgrade, c.line, c.cmd, c.upgrade)
		}
	}
}

func TestAptStep(t *testing.T) {
	upgrading := &Plan{Source: "packer:t.json", Actions: []Action{
		{Kind: KindUpload, Name: "provisioner 1 (file): files/", Script: []byte("apt-get upgrade")},
		{Kind: KindShell, Name: "provisioner 2 (shell): update.sh", File: "t.json", Line: 14, ScriptPath: "update.sh",
			Script: []byte("#!/bin/sh\nset -e\napt-get -y update\napt-get -y full-upgrade\n")},
	}}
	updating := &Plan{Source: "packer:t.json", Actions: []Action{
		{Kind: KindShell, Name: "provisioner 1 (shell): inline", Script: []byte("#!/bin/sh -e\napt-get update\napt-get install -y nginx\n")},
	}}
	recipeDir := &Plan{Source: "recipe:app", Actions: upgrading.Actions}
	cases := []struct {
		plan    *Plan
		setting string
		run     bool
		why     string
	}{
		{upgrading, "auto", false, "provisioner 2 (shell): update.sh at t.json:14 upgrades the packages itself (update.sh:4: apt-get -y full-upgrade); set apt-upgrade: true to run the tool's step as well"},
		{upgrading, "true", true, "apt-upgrade is true"},
		{updating, "auto", true, "provisioner 1 (shell): inline refreshes the package lists but does not upgrade (inline line 1: apt-get update); set apt-upgrade: false to skip the tool's step"},
		{updating, "false", false, "apt-upgrade is false"},
		{recipeDir, "auto", true, "a recipe folder gets it before its scripts"},
		{&Plan{Source: "packer:t.json"}, "auto", true, "no provisioner of the template upgrades the packages; set apt-upgrade: false to skip the tool's step"},
	}
	for _, c := range cases {
		run, why := c.plan.AptStep(c.setting)
		if run != c.run || why != c.why {
			t.Errorf("%s, apt-upgrade %s: run=%v %q\nwant run=%v %q", c.plan.Source, c.setting, run, why, c.run, c.why)
		}
	}
}
