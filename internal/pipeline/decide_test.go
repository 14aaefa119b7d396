package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

// names of the steps of p that run.
func running(p []Planned) []string {
	var out []string
	for _, s := range p {
		if s.Reason == "" {
			out = append(out, s.Step.String())
		}
	}
	return out
}

// Every combination of mode, target, token, recipe, keep-droplet, boot-test
// and submit: what runs follows from the declarations alone, every skip says
// why, and the rules the issue names hold.
func TestDecideEveryCombination(t *testing.T) {
	apiSteps := []string{preflight{}.String(), createKey{}.String(), createDroplet{}.String(), powerOff{}.String(),
		snapshot{}.String(), deleteDroplet{}.String(), release{}.String(), bootTest{}.String(), submit{}.String(), keepOrDelete{}.String()}
	for _, mode := range []string{config.ModeBuildImage, config.ModeBuildBase} {
		for _, host := range []string{"", "192.0.2.7"} {
			for _, token := range []string{"", "tok"} {
				for _, actions := range []int{0, 2} {
					for _, opts := range []int{0, 1, 2, 3, 4, 5, 6, 7} {
						cfg := &config.Config{Mode: mode, Host: host, Token: token, Region: "nyc3",
							KeepDroplet: opts&1 != 0, BootTest: opts&2 != 0}
						if opts&4 != 0 {
							cfg.SubmitAppID = "app"
						}
						p := &recipe.Plan{Actions: make([]recipe.Action, actions)}
						name := fmt.Sprintf("%s host=%q token=%v actions=%d keep=%v boot=%v submit=%v", mode, host, token != "", actions, cfg.KeepDroplet, cfg.BootTest, cfg.SubmitAppID != "")
						plan := Preview(cfg, p)
						run := running(plan)
						for _, s := range plan {
							if s.Reason == "" && s.Step.Declare().Needs&OptProvision != 0 && actions == 0 {
								t.Errorf("%s: %s runs with nothing to provision", name, s.Step)
							}
						}
						has := func(s Step) bool { return slices.Contains(run, s.String()) }
						if host == "" && !has(createDroplet{}) {
							t.Errorf("%s: a droplet build does not create its droplet: %v", name, run)
						}
						if host != "" {
							for _, s := range []Step{keygen{}, createKey{}, createDroplet{}, waitActive{}, deleteDroplet{}, keepOrDelete{}} {
								if has(s) {
									t.Errorf("%s: %s runs for an existing server", name, s)
								}
							}
						}
						if host != "" && token == "" {
							for _, s := range apiSteps {
								if slices.Contains(run, s) {
									t.Errorf("%s: %s runs without an API token", name, s)
								}
							}
						}
						if has(snapshot{}) && !has(powerOff{}) {
							t.Errorf("%s: snapshot of a droplet not powered off", name)
						}
						if !has(connect{}) || !has(aptUpgrade{}) || !has(appInfo{}) || !has(validate{}) {
							t.Errorf("%s: the provisioning core does not run: %v", name, run)
						}
						if mode == config.ModeBuildImage && host != "" && token != "" && (!has(findDroplet{}) || !has(snapshot{})) {
							t.Errorf("%s: a --host build_image with a token does not snapshot the droplet it finds: %v", name, run)
						}
						if has(findDroplet{}) && (host == "" || mode != config.ModeBuildImage) {
							t.Errorf("%s: looks for a --host droplet it has no use for", name)
						}
						if mode == config.ModeBuildImage && host == "" && (has(keepDroplet{}) != cfg.KeepDroplet || has(deleteDroplet{}) == cfg.KeepDroplet) {
							t.Errorf("%s: keep-droplet not honoured in build_image: %v", name, run)
						}
						if mode == config.ModeBuildImage && host == "" && !has(snapshot{}) {
							t.Errorf("%s: build_image takes no snapshot: %v", name, run)
						}
						if has(inventory{}) != (cfg.SubmitAppID != "" && has(connect{})) {
							t.Errorf("%s: the package inventory runs against sbom and submit-app-id: %v", name, run)
						}
						if has(bootTest{}) != (cfg.BootTest && has(snapshot{})) || has(submit{}) != (cfg.SubmitAppID != "" && has(snapshot{})) {
							t.Errorf("%s: boot test or submit runs against its option: %v", name, run)
						}
						for _, s := range plan {
							if s.Reason == "" {
								continue
							}
							if !cfg.BootTest && s.Step.String() == (bootTest{}).String() && mode == config.ModeBuildImage && s.Reason != "boot-test=false" {
								t.Errorf("%s: boot test skipped for %q, want boot-test=false", name, s.Reason)
							}
							if strings.HasPrefix(s.Reason, "no ") && strings.Contains(s.Reason, ", ") {
								t.Errorf("%s: reason %q names more than the first thing missing", name, s.Reason)
							}
						}
					}
				}
			}
		}
	}
}

// Issue 14: a --host build with a token in the environment dereferenced a
// nil droplet in power off. Now it finds the droplet at that address first,
// then powers it off and snapshots it, and never deletes it.
func TestHostWithTokenSnapshotsTheFoundDroplet(t *testing.T) {
	cfg := &config.Config{Mode: config.ModeBuildImage, Host: "192.0.2.7", Token: "tok", BootTest: true}
	var run []string
	for _, s := range Preview(cfg, &recipe.Plan{}) {
		if s.Reason == "" {
			run = append(run, s.Step.String())
		}
	}
	want := []string{preflight{}.String(), findDroplet{}.String(), connect{}.String(), aptUpgrade{}.String(), appInfo{}.String(),
		cleanUp{}.String(), validate{}.String(), powerOff{}.String(), snapshot{}.String(), release{}.String(), bootTest{}.String()}
	if !slices.Equal(run, want) {
		t.Errorf("steps that run:\n got %q\nwant %q", run, want)
	}
}

// Need's names line up with its constants (messages name what is missing).
func TestNeedNames(t *testing.T) {
	if OptProvision.String() != "provision" || OnHost.String() != "--host" || Snapshot.String() != "snapshot" || (API|SSH).String() != "API, SSH" {
		t.Errorf("names out of line: %q %q %q %q", OptProvision, OnHost, Snapshot, API|SSH)
	}
}

// skip-cleanup skips validation in build_image, never the search of the disk
// for the build's own secrets: it runs as its own step then, and only then.
func TestSkipCleanupStillScansForSecrets(t *testing.T) {
	for _, tc := range []struct {
		skip     bool
		mode     string
		validate bool
		scan     string // "" runs, else the reason it is skipped
	}{
		{false, config.ModeBuildImage, true, "validation does this search"},
		{true, config.ModeBuildImage, false, ""},
		{true, config.ModeBuildBase, true, ""},
	} {
		cfg := &config.Config{Mode: tc.mode, Token: "tok", SkipCleanup: tc.skip}
		var validated, scanned bool
		scanReason := "the step is not in the list"
		for _, s := range Preview(cfg, &recipe.Plan{}) {
			switch s.Step.(type) {
			case validate:
				validated = s.Reason == ""
			case secretScan:
				scanned, scanReason = s.Reason == "", s.Reason
			}
		}
		if tc.mode == config.ModeBuildBase {
			// build_base validates (and scans) whatever skip-cleanup says; the
			// separate step is not in its list.
			if !validated || scanned {
				t.Errorf("build_base skip-cleanup=%v: validate runs %v, separate scan runs %v", tc.skip, validated, scanned)
			}
			continue
		}
		if validated != tc.validate || scanned != (tc.scan == "") || !scanned && scanReason != tc.scan {
			t.Errorf("build_image skip-cleanup=%v: validate runs %v, secret scan runs %v (%q)", tc.skip, validated, scanned, scanReason)
		}
	}
}
