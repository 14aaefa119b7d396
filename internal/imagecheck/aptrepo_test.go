package imagecheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/imagecheck/aptrepo"
)

// TestAptRepoSecurityUpdate serves the fixture repository to a sandboxed apt (every apt
// directory redirected into a temp dir, never the host's) and checks the update rule
// names the package while 1.0 is installed and passes with 1.1.
func TestAptRepoSecurityUpdate(t *testing.T) {
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get is not installed")
	}
	dir := t.TempDir()
	repo, err := aptrepo.Build(dir)
	if err != nil {
		t.Skip(err) // dpkg-dev missing
	}
	sandbox := filepath.Join(dir, "apt")
	for _, d := range []string{"lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/preferences.d"} {
		if err := os.MkdirAll(filepath.Join(sandbox, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sandbox, "etc/sources.list"), []byte(repo.SourcesLine("file:"+repo.Dir)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	status := filepath.Join(sandbox, "status")
	apt := func(args ...string) string {
		base := []string{
			"-o", "Dir::State::Lists=" + filepath.Join(sandbox, "lists"),
			"-o", "Dir::State::status=" + status,
			"-o", "Dir::Cache=" + filepath.Join(sandbox, "cache"),
			"-o", "Dir::Etc::sourcelist=" + filepath.Join(sandbox, "etc/sources.list"),
			"-o", "Dir::Etc::sourceparts=" + filepath.Join(sandbox, "etc/sources.list.d"),
			"-o", "Dir::Etc::preferencesparts=" + filepath.Join(sandbox, "etc/preferences.d"),
			"-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root",
		}
		out, err := exec.Command("apt-get", append(base, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("apt-get %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	installed := func(v string) {
		st := "Package: " + aptrepo.Package + "\nStatus: install ok installed\nPriority: optional\nSection: misc\nMaintainer: x <x@example.invalid>\nArchitecture: all\nVersion: " + v + "\nDescription: dummy\n\n"
		if err := os.WriteFile(status, []byte(st), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	installed(aptrepo.OldVersion)
	apt("-q", "update")
	for _, tc := range []struct {
		version string
		want    Status
	}{{aptrepo.OldVersion, Fail}, {aptrepo.NewVersion, Pass}} {
		installed(tc.version)
		out := apt("--just-print", "upgrade")
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(strings.ToLower(l), "security") {
				lines = append(lines, "line\t"+l)
			}
		}
		f := cleanFacts()
		f.Updates = Updates{}
		if err := parseUpdates(&f.Updates, append([]string{"manager\tapt", "update-exit\t0", "simulate-exit\t0"}, lines...)); err != nil {
			t.Fatal(err)
		}
		x := checkUpdates(f, Options{})
		if x.Status != tc.want {
			t.Errorf("installed %s: %s, want %s; apt said:\n%s", tc.version, x.Status, tc.want, out)
		}
		if tc.want == Fail && strings.Join(x.Details, ",") != aptrepo.Package {
			t.Errorf("installed %s: details %v, want the package named", tc.version, x.Details)
		}
	}
}
