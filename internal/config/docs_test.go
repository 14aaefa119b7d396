package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// repoRoot is two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

const regenerate = "run `go run ./internal/config/gen` from the repository root"

type actionYAML struct {
	Name        string
	Description string
	Branding    struct{ Icon, Color string }
	Inputs      map[string]struct {
		Description string
		Required    bool
		Default     *string
	}
	Outputs map[string]struct{ Description string }
	Runs    struct {
		Using          string
		Image          string
		Args           []string
		PostEntrypoint string `yaml:"post-entrypoint"`
	}
}

func TestActionYAMLMatchesTable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "action.yml"))
	if err != nil {
		t.Fatalf("read action.yml: %v", err)
	}
	var a actionYAML
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatalf("parse action.yml: %v", err)
	}
	if a.Name == "" || a.Description == "" || a.Branding.Icon == "" || a.Branding.Color == "" {
		t.Error("action.yml lacks name, description or branding")
	}
	opts := Options()
	if len(a.Inputs) != len(opts) {
		t.Errorf("action.yml has %d inputs, the table %d: %s", len(a.Inputs), len(opts), regenerate)
	}
	for _, o := range opts {
		in, ok := a.Inputs[o.Name]
		if !ok {
			t.Errorf("action.yml lacks input %s: %s", o.Name, regenerate)
			continue
		}
		if in.Description == "" || in.Description != o.Help {
			t.Errorf("input %s: description %q, table %q: %s", o.Name, in.Description, o.Help, regenerate)
		}
		if in.Default == nil || *in.Default != o.Default {
			t.Errorf("input %s: default differs from the table's %q: %s", o.Name, o.Default, regenerate)
		}
		if in.Required {
			t.Errorf("input %s is required: every input has a default or an env alias, keep required: false", o.Name)
		}
	}
	// Hand-written parts the pipeline and workflows depend on.
	for _, out := range []string{"snapshot-id", "snapshot-name", "snapshot-regions", "droplet-id", "droplet-ip", "validation", "report", "manifest"} {
		if a.Outputs[out].Description == "" {
			t.Errorf("action.yml lacks output %s with a description", out)
		}
	}
	if a.Runs.Using != "docker" || !strings.HasPrefix(a.Runs.Image, "docker://ghcr.io/") {
		t.Errorf("runs: using %q image %q, want a prebuilt docker:// image", a.Runs.Using, a.Runs.Image)
	}
	if len(a.Runs.Args) == 0 || a.Runs.Args[0] != "action" || a.Runs.PostEntrypoint == "" {
		t.Errorf("runs: args %q post-entrypoint %q, want [action] and the post safety net", a.Runs.Args, a.Runs.PostEntrypoint)
	}
}

func TestReadmeInputsMatchTable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatalf("read README.md: %v", err)
	}
	s := string(data)
	i, j := strings.Index(s, ReadmeStart), strings.Index(s, ReadmeEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %s ... %s block: %s", ReadmeStart, ReadmeEnd, regenerate)
	}
	if got := s[i : j+len(ReadmeEnd)+1]; got != ReadmeBlock() {
		t.Errorf("README inputs table is stale: %s", regenerate)
	}
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "inputs.md"))
	if err != nil || string(doc) != InputsDoc() {
		t.Errorf("docs/inputs.md is missing or stale (%v): %s", err, regenerate)
	}
	// Every name and default appears in the README table, as a reader sees it.
	for _, o := range Options() {
		if !strings.Contains(s, "| `"+o.Name+"` |") {
			t.Errorf("README lacks input %s", o.Name)
		}
		if o.Default != "" && !strings.Contains(s, "`"+o.Default+"`") {
			t.Errorf("README lacks default %q of %s", o.Default, o.Name)
		}
	}
}

func TestReplaceBlock(t *testing.T) {
	tests := []struct{ name, doc, want, err string }{
		{"append to empty", "", "<s>\nnew\n<e>\n", ""},
		{"append after text", "intro", "intro\n<s>\nnew\n<e>\n", ""},
		{"replace between", "a\n<s>\nold\n<e>\nb\n", "a\n<s>\nnew\n<e>\nb\n", ""},
		{"end before start", "<e>\n<s>\n", "", "out of order"},
		{"start only", "<s>\n", "", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReplaceBlock(tt.doc, "<s>", "<e>", "<s>\nnew\n<e>\n")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// The example workflows are copied by users: every input they pass must exist,
// and every output they read must be declared in action.yml.
func TestExampleWorkflowsUseRealInputsAndOutputs(t *testing.T) {
	root := repoRoot(t)
	var a actionYAML
	data, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "examples", "workflows", "*.yml"))
	if len(files) < 3 {
		t.Fatalf("want at least 3 example workflows, found %d", len(files))
	}
	outputRef := regexp.MustCompile(`steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)`)
	expr := regexp.MustCompile(`\$\{\{[^}]*\}\}`)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var wf struct {
			Jobs map[string]struct {
				Steps []struct {
					ID   string
					Uses string
					With map[string]string
				}
			}
		}
		if err := yaml.Unmarshal(raw, &wf); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		ours := map[string]bool{}
		for _, job := range wf.Jobs {
			for _, st := range job.Steps {
				if !strings.HasPrefix(st.Uses, "mp-image-action/mp-image-action@") {
					continue
				}
				ours[st.ID] = true
				for k, v := range st.With {
					if _, ok := a.Inputs[k]; !ok {
						t.Errorf("%s: input %q does not exist", filepath.Base(f), k)
					}
					if k == "snapshot-name" {
						if _, err := RenderSnapshotName(expr.ReplaceAllString(v, "x"), time.Now(), "abc123"); err != nil {
							t.Errorf("%s: %v", filepath.Base(f), err)
						}
					}
				}
			}
		}
		for _, m := range outputRef.FindAllStringSubmatch(string(raw), -1) {
			if _, ok := a.Outputs[m[2]]; ours[m[1]] && !ok {
				t.Errorf("%s: output %q is not declared in action.yml", filepath.Base(f), m[2])
			}
		}
	}
}
