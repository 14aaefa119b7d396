package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The fork dry-run example builds on the runner's local cloud: its install
// step must install every package the local cloud needs, or the build stops.
func TestForkExampleInstallsLocalCloudPackages(t *testing.T) {
	data, err := os.ReadFile("../../examples/workflows/pr-dry-run.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "--cloud local") {
		t.Fatal("the example no longer builds on the local cloud: update this test")
	}
	installs := regexp.MustCompile(`apt-get install [^\n]*`).FindAllString(string(data), -1)
	for _, p := range machinePackages {
		found := false
		for _, line := range installs {
			found = found || regexp.MustCompile(`(^|\s)`+regexp.QuoteMeta(p)+`(\s|$)`).MatchString(line)
		}
		if !found {
			t.Errorf("examples/workflows/pr-dry-run.yml does not install %s (install lines: %q)", p, installs)
		}
	}
}
