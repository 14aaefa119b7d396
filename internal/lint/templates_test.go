package lint

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/packer"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// TestSharedTemplates lints every real Packer template in
// ../shared/data/packer-templates from the root of a tree holding the
// scripts and files it names (stubs: only the JSON is stored), the way
// `packer build` runs there. None may have a script the shell cannot
// parse; the count of findings per rule is logged (go test -v).
func TestSharedTemplates(t *testing.T) {
	shared, err := testutil.SharedDir()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(shared, "data", "packer-templates", "*.json"))
	if len(files) == 0 {
		t.Skipf("no Packer templates under %s (the shared data set is absent)", shared)
	}
	counts := map[string]int{}
	scripts := 0
	for _, f := range files {
		root := t.TempDir()
		testutil.StubTemplateFiles(t, root, testutil.Provisioners(t, f))
		t.Chdir(root)
		plan, err := packer.Load(f, packer.Options{Env: func(string) string { return "" }})
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		for _, a := range plan.Actions {
			if a.Kind == recipe.KindShell && isShell(a.Script) {
				if parseScript(a.File, a.Script, a.Env, a.Line).parsed == nil {
					t.Errorf("%s: a script of line %d did not parse", filepath.Base(f), a.Line)
				}
				scripts++
			}
		}
		for _, x := range Template(plan, Options{NoShellcheck: true}) {
			counts[x.Rule]++
			if x.Rule == "parse" {
				t.Errorf("%s", x)
			}
			if os.Getenv("MP_LINT_SHOW") != "" {
				t.Log(strings.TrimPrefix(x.String(), filepath.Dir(f)+"/"))
			}
		}
	}
	var rules []string
	for r := range counts {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	if scripts == 0 {
		t.Fatal("no shell script in any template was parsed")
	}
	var b strings.Builder
	for _, r := range rules {
		fmt.Fprintf(&b, "\n  %-18s %d", r, counts[r])
	}
	if b.Len() == 0 {
		b.WriteString(" none")
	}
	t.Logf("%d templates, %d shell scripts parsed; findings per rule:%s", len(files), scripts, b.String())
}
