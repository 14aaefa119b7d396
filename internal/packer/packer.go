// Package packer imports existing Packer templates (JSON and HCL2) into the recipe.Plan a build runs, refusing what it cannot run before any droplet exists.
package packer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/mp-image-action/mp-image-action/internal/errlist"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

// Options are the knobs `packer build` has that change what a template means.
type Options struct {
	Vars     map[string]string   // -var k=v (highest precedence)
	VarFiles []string            // -var-file F, in order (JSON for JSON templates; .pkrvars.hcl or JSON for HCL)
	BaseDir  string              // where `packer build` would run: relative paths start here (default: cwd)
	Env      func(string) string // environment lookup for {{env}} and env() (default: os.Getenv)
	Now      func() time.Time    // clock for {{timestamp}}, {{isotime}}, timestamp() (default: time.Now)
	UUID     func() string       // {{uuid}} and uuidv4() (default: random v4); tests make it stable
}

// BuilderType is the only Packer builder the product runs.
const BuilderType = "digitalocean"

// Load reads a Packer template — a .json file, a .pkr.hcl file or a folder of
// .pkr.hcl files — and compiles it to a plan. Every problem is reported, each
// naming the template file and line.
func Load(path string, o Options) (*recipe.Plan, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("packer template %s does not exist: check --packer-template (relative paths start at %s)", path, o.BaseDir)
	}
	if err != nil {
		return nil, fmt.Errorf("packer template %s: %w", path, err)
	}
	switch {
	case st.IsDir():
		return loadHCL(path, o)
	case strings.HasSuffix(path, ".pkr.hcl"):
		return loadHCL(path, o)
	case strings.HasSuffix(path, ".pkr.json"):
		return nil, fmt.Errorf("%s: HCL2 templates in JSON syntax (.pkr.json) are not supported: write the template as .pkr.hcl, or as a legacy .json template", path)
	default:
		return loadJSON(path, o)
	}
}

func (o Options) withDefaults() (Options, error) {
	if o.BaseDir == "" {
		d, err := os.Getwd()
		if err != nil {
			return o, fmt.Errorf("find the current directory for template-relative paths: %w (pass a base directory)", err)
		}
		o.BaseDir = d
	}
	if o.Env == nil {
		o.Env = os.Getenv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.UUID == nil {
		o.UUID = newUUID
	}
	return o, nil
}

// problems collects errors; format prints one per line.
type problems struct{ errs *multierror.Error }

func (p *problems) add(err error) {
	if err != nil {
		p.errs = multierror.Append(p.errs, err)
	}
}

func (p *problems) addf(file string, line int, format string, args ...any) {
	p.add(fmt.Errorf("%s: %s", pos(file, line), fmt.Sprintf(format, args...)))
}

func (p *problems) err() error {
	if p.errs == nil || len(p.errs.Errors) == 0 {
		return nil
	}
	p.errs.ErrorFormat = errlist.Counted("problems in the packer template")
	return p.errs
}

func pos(file string, line int) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

// block is one builder, provisioner or post-processor with its settings as
// plain Go values (string, float64, bool, []any, map[string]any, nil), the
// same shape from JSON and from HCL so one compiler serves both.
type block struct {
	file  string
	line  int
	lines map[string]int // line of each key, when known
	what  string         // "provisioner 3 (shell)"
	attrs map[string]any
	p     *problems
}

func (b *block) errf(key, format string, args ...any) {
	line := b.line
	if l, ok := b.lines[key]; ok && l > 0 {
		line = l
	}
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	b.p.addf(b.file, line, "%s: %s", b.what, msg)
}

// invalid stands for a value whose evaluation already failed (and was
// reported): getters treat it as unset instead of piling up follow-on errors.
type invalid struct{}

// typeErr reports an unsupported type at the line of its "type" key (JSON) or block (HCL).
func (b *block) typeErr(format string, args ...any) {
	b.p.addf(b.file, b.lineOf("type"), "%s: %s", b.what, fmt.Sprintf(format, args...))
}

func (b *block) has(key string) bool { _, ok := b.attrs[key]; return ok && b.attrs[key] != nil }

func (b *block) str(key string) string {
	v, ok := b.attrs[key]
	if _, bad := v.(invalid); !ok || v == nil || bad {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	case bool:
		return fmt.Sprint(v)
	}
	b.errf(key, "want a string, got %s", kind(v))
	return ""
}

func (b *block) strs(key string) []string {
	v, ok := b.attrs[key]
	if _, bad := v.(invalid); !ok || v == nil || bad {
		return nil
	}
	switch v := v.(type) {
	case string: // weak typing, as Packer's decoder: "a,b" is not split, one element
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				if f, isNum := e.(float64); isNum {
					s = fmt.Sprint(f)
				} else {
					b.errf(key, "element %d: want a string, got %s", i, kind(e))
					continue
				}
			}
			out = append(out, s)
		}
		return out
	}
	b.errf(key, "want a list of strings, got %s", kind(v))
	return nil
}

func (b *block) boolean(key string) bool {
	v, ok := b.attrs[key]
	if _, bad := v.(invalid); !ok || v == nil || bad {
		return false
	}
	switch v := v.(type) {
	case bool:
		return v
	case string:
		switch strings.ToLower(v) {
		case "true", "1":
			return true
		case "false", "0", "":
			return false
		}
	}
	b.errf(key, "want true or false, got %v", v)
	return false
}

func (b *block) duration(key string) time.Duration {
	v, ok := b.attrs[key]
	if _, bad := v.(invalid); !ok || v == nil || bad {
		return 0
	}
	s, isStr := v.(string)
	if !isStr || s == "" {
		if !isStr {
			b.errf(key, "want a duration such as \"5m\" or \"30s\", got %v", v)
		}
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		b.errf(key, "%q is not a duration: write it like \"5m\" or \"30s\"", s)
	}
	return d
}

func (b *block) ints(key string) []int {
	v, ok := b.attrs[key]
	if _, bad := v.(invalid); !ok || v == nil || bad {
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	var out []int
	for _, e := range list {
		switch e := e.(type) {
		case float64:
			if e == float64(int(e)) {
				out = append(out, int(e))
				continue
			}
		case string:
			var n int
			if _, err := fmt.Sscan(e, &n); err == nil {
				out = append(out, n)
				continue
			}
		}
		b.errf(key, "want whole numbers, got %v", e)
	}
	return out
}

// unknown reports keys neither handled nor knowingly ignored, as Packer
// itself refuses unknown configuration keys (a typo must not pass silently).
func (b *block) unknown(handled, ignored map[string]bool, warn func(string)) {
	keys := make([]string, 0, len(b.attrs))
	for k := range b.attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case handled[k]:
		case ignored[k]:
			warn(fmt.Sprintf("%s: %s: %s is ignored (mp-image manages this itself)", pos(b.file, b.lineOf(k)), b.what, k))
		default:
			b.errf(k, "unknown setting (check its spelling; mp-image accepts %s)", strings.Join(sortedKeys(handled), ", "))
		}
	}
}

func (b *block) lineOf(key string) int {
	if l, ok := b.lines[key]; ok && l > 0 {
		return l
	}
	return b.line
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// localPath resolves a template path the way `packer build` run in base does.
func localPath(base, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}
