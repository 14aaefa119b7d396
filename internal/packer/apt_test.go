package packer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// upgradeLine is an independent reading of "this inline line upgrades the
// packages", for the real templates' style: apt or apt-get, options, then
// an upgrade subcommand.
var upgradeLine = regexp.MustCompile(`^\s*(sudo\s+)?(apt|apt-get)\s+(-\S+\s+|-o\s+\S+\s+)*(upgrade|full-upgrade|dist-upgrade)\b`)

// TestRealTemplatesUpgradeThemselves: on DigitalOcean's own 1-Click
// templates, the tool skips its apt step exactly for those whose inline
// provisioners upgrade the packages, and says which provisioner does it.
func TestRealTemplatesUpgradeThemselves(t *testing.T) {
	shared, err := testutil.SharedDir()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(shared, "data", "packer-templates", "*.json"))
	if len(files) == 0 {
		t.Skip("no templates in the shared data folder (absent: set MP_SHARED_DIR)")
	}
	skipped := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := t.TempDir()
		expectFromJSON(t, data, base) // creates the script files as stubs
		var tmpl struct {
			Provisioners []struct {
				Type   string   `json:"type"`
				Inline []string `json:"inline"`
			} `json:"provisioners"`
		}
		if err := json.Unmarshal(data, &tmpl); err != nil {
			t.Fatal(err)
		}
		want := ""
		for i, p := range tmpl.Provisioners {
			for _, l := range p.Inline {
				if p.Type == "shell" && want == "" && upgradeLine.MatchString(l) {
					want = fmt.Sprintf("provisioner %d ", i+1)
				}
			}
		}
		plan, err := Load(f, testOptions(base, nil))
		if err != nil {
			continue // refused kinds: TestRealTemplates covers them
		}
		run, why := plan.AptStep("auto")
		switch {
		case want == "" && !run:
			t.Errorf("%s: no inline upgrade, but the tool skips its apt step: %s", filepath.Base(f), why)
		case want != "" && (run || !strings.HasPrefix(why, want)):
			t.Errorf("%s: %supgrades; the tool says run=%v: %s", filepath.Base(f), want, run, why)
		}
		if !run {
			skipped++
		}
	}
	t.Logf("%d of %d templates upgrade the packages themselves", skipped, len(files))
	if skipped == 0 {
		t.Error("no real template upgrades itself? the detection finds nothing")
	}
}
