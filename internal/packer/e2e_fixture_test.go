package packer

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

// shape is what a plan does to a machine, with the differences that do not
// change the machine removed: names, steps, and the template's explicit
// chmod of the per-instance script (the recipe's per-instance kind implies it).
type shape struct {
	copies  []string
	scripts []string
	envs    []map[string]string
}

func shapeOf(t *testing.T, p *recipe.Plan) shape {
	t.Helper()
	var s shape
	for _, a := range p.Actions {
		if a.Kind.IsCopy() {
			abs, err := filepath.Abs(a.LocalPath)
			if err != nil {
				t.Fatal(err)
			}
			s.copies = append(s.copies, abs+" -> "+a.RemotePath)
			continue
		}
		if strings.Contains(string(a.Script), "chmod 0755 /var/lib/cloud/scripts/per-instance/001_onboot") && a.ScriptPath == "" {
			continue
		}
		s.scripts = append(s.scripts, string(a.Script))
		env := map[string]string{}
		for k, v := range a.Env {
			if !strings.HasPrefix(k, "PACKER_") {
				env[k] = v
			}
		}
		s.envs = append(s.envs, env)
	}
	return s
}

// TestE2EFixturesAgree checks that the e2e templates and the e2e recipe do
// the same to a machine, so the end-to-end test can compare the results.
func TestE2EFixturesAgree(t *testing.T) {
	base := filepath.Join("testdata", "e2e")
	r, err := recipe.Load(filepath.Join(base, "recipe"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"APP_VERSION": "1.0", "DEBIAN_FRONTEND": "noninteractive"}
	rp, err := r.Plan(recipe.PlanOptions{Vendor: "e2e", Env: env})
	if err != nil {
		t.Fatal(err)
	}
	want := shapeOf(t, rp)
	// The hook script carries no environment in the recipe either way.
	for _, f := range []string{"template.json", "template.pkr.hcl"} {
		t.Run(f, func(t *testing.T) {
			tp, err := Load(filepath.Join(base, f), testOptions(base, nil))
			if err != nil {
				t.Fatal(err)
			}
			got := shapeOf(t, tp)
			if !reflect.DeepEqual(got.copies, want.copies) {
				t.Errorf("copies\n%q\nwant\n%q", got.copies, want.copies)
			}
			if !reflect.DeepEqual(got.scripts, want.scripts) {
				t.Errorf("scripts differ:\n%q\nwant\n%q", got.scripts, want.scripts)
			}
			for i := range want.envs[:len(want.envs)-1] { // the last is the hook: no env needed
				if !reflect.DeepEqual(got.envs[i], want.envs[i]) {
					t.Errorf("script %d env %v, want %v", i, got.envs[i], want.envs[i])
				}
			}
			if !strings.Contains(tp.Builder.SnapshotName, "e2e-") {
				t.Errorf("snapshot name %q", tp.Builder.SnapshotName)
			}
		})
	}
}
