package packer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

// node is a JSON value with the line it starts on, so every problem can be
// reported at its line (encoding/json alone forgets positions).
type node struct {
	line  int
	value any // string, float64, bool, nil, []*node, *object
}

type object struct {
	keys  []string
	vals  map[string]*node
	lines map[string]int // line of each key
}

// jsonParser walks the token stream of a json.Decoder, turning byte offsets into lines.
type jsonParser struct {
	dec      *json.Decoder
	newlines []int // offsets of '\n'
	data     []byte
}

func parseJSON(data []byte) (*node, error) {
	p := &jsonParser{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	p.dec.UseNumber()
	for i, c := range data {
		if c == '\n' {
			p.newlines = append(p.newlines, i)
		}
	}
	n, err := p.value()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("line %d: %v", p.lineAt(int(se.Offset)-1), se)
		}
		return nil, fmt.Errorf("line %d: %w", p.lineAt(int(p.dec.InputOffset())), err)
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("line %d: unexpected data after the template's closing }", p.lineAt(int(p.dec.InputOffset())))
	}
	return n, nil
}

// lineAt is the 1-based line of byte offset off.
func (p *jsonParser) lineAt(off int) int {
	if off < 0 {
		off = 0
	}
	return sort.SearchInts(p.newlines, off) + 1
}

// tokenLine is the line where the token just read starts: InputOffset is its
// end, and a token never spans lines except leading whitespace, which we skip back over.
func (p *jsonParser) tokenLine() int {
	end := int(p.dec.InputOffset()) - 1
	for end > 0 && end < len(p.data) && (p.data[end] == ' ' || p.data[end] == '\t' || p.data[end] == '\r' || p.data[end] == '\n') {
		end--
	}
	return p.lineAt(end)
}

func (p *jsonParser) value() (*node, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	line := p.tokenLine()
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := &object{vals: map[string]*node{}, lines: map[string]int{}}
			for p.dec.More() {
				kt, err := p.dec.Token()
				if err != nil {
					return nil, err
				}
				key := kt.(string)
				kl := p.tokenLine()
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				if _, dup := obj.vals[key]; !dup {
					obj.keys = append(obj.keys, key)
				}
				obj.vals[key], obj.lines[key] = v, kl
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, err
			}
			return &node{line: line, value: obj}, nil
		case '[':
			var list []*node
			for p.dec.More() {
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, err
			}
			return &node{line: line, value: list}, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", t, err)
		}
		return &node{line: line, value: f}, nil
	default:
		return &node{line: line, value: t}, nil
	}
}

// plain drops positions: the value as encoding/json would decode it.
func (n *node) plain() any {
	switch v := n.value.(type) {
	case *object:
		m := make(map[string]any, len(v.keys))
		for _, k := range v.keys {
			m[k] = v.vals[k].plain()
		}
		return m
	case []*node:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = e.plain()
		}
		return out
	}
	return n.value
}

// topKeys are the legacy JSON template's root keys.
var topKeys = set("variables", "sensitive-variables", "builders", "provisioners", "post-processors", "min_packer_version", "description")

func loadJSON(file string, o Options) (*recipe.Plan, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read packer template: %w", err)
	}
	root, err := parseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: fix the JSON syntax", file, err)
	}
	top, ok := root.value.(*object)
	if !ok {
		return nil, fmt.Errorf("%s:%d: a packer template is a JSON object with builders and provisioners", file, root.line)
	}
	probs := &problems{}
	plan := &recipe.Plan{Source: "packer:" + file}
	for _, k := range top.keys {
		if !topKeys[k] && !strings.HasPrefix(k, "_") {
			probs.addf(file, top.lines[k], "unknown root key %q (a template has variables, sensitive-variables, builders, provisioners, post-processors)", k)
		}
	}

	in, err := newInterp(file, o)
	if err != nil {
		return nil, err
	}
	sensitive := jsonVariables(file, top, o, in, probs, plan)

	builderName := jsonBuilder(file, top, o, in, probs, plan)
	plan.Builder.Sensitive = append(sensitive, plan.Builder.Sensitive...)
	plan.Builder.Sensitive = dedupe(plan.Builder.Sensitive)

	if pn, ok := top.vals["provisioners"]; ok {
		list, isList := pn.value.([]*node)
		if !isList {
			probs.addf(file, pn.line, "provisioners must be a list")
		}
		for i, n := range list {
			b := jsonBlock(file, n, fmt.Sprintf("provisioner %d", i+1), in, probs)
			if b == nil {
				continue
			}
			typ := b.str("type")
			b.what = fmt.Sprintf("provisioner %d (%s)", i+1, typ)
			compileProvisioner(b, i+1, typ, builderName, o.BaseDir, plan)
		}
	}
	if pp, ok := top.vals["post-processors"]; ok {
		jsonPostProcessors(file, pp, o, in, probs, plan)
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	if len(plan.Actions) == 0 {
		plan.Warnings = append(plan.Warnings, file+": the template has no provisioners: the image will be the base image plus mp-image's cleanup")
	}
	return plan, nil
}

// jsonVariables resolves user variables: defaults (rendered, they may use
// env, timestamp and other variables), then -var-file files in order, then
// -var. It returns the values of the sensitive ones.
func jsonVariables(file string, top *object, o Options, in *interp, probs *problems, plan *recipe.Plan) []string {
	declared := map[string]bool{}
	varLines := map[string]int{}
	var required []string
	if vn, ok := top.vals["variables"]; ok && vn.value != nil {
		vars, isObj := vn.value.(*object)
		if !isObj {
			probs.addf(file, vn.line, "variables must be an object of name: default value")
			return nil
		}
		for _, k := range vars.keys {
			declared[k] = true
			varLines[k] = vars.lines[k]
			switch v := vars.vals[k].value.(type) {
			case nil:
				required = append(required, k)
			case string:
				in.vars[k] = v
			case float64, bool:
				in.vars[k] = fmt.Sprint(v)
			default:
				probs.addf(file, vars.lines[k], "variable %q: a default must be a string", k)
			}
		}
	}
	// Defaults may refer to each other: render until nothing changes.
	for pass := 0; pass < 10; pass++ {
		changed := false
		for _, k := range sortedVarNames(in.vars) {
			out, err := in.render(in.vars[k])
			if err != nil {
				probs.addf(file, varLines[k], "variable %q: %v", k, err)
				delete(in.vars, k)
				continue
			}
			if out != in.vars[k] {
				in.vars[k], changed = out, true
			}
		}
		if !changed {
			break
		}
	}
	overrides := map[string]string{}
	for _, vf := range o.VarFiles {
		data, err := os.ReadFile(vf)
		if err != nil {
			probs.add(fmt.Errorf("var file: %w", err))
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			probs.add(fmt.Errorf("var file %s: %v: a var file is a JSON object of name: value", vf, err))
			continue
		}
		for k, v := range m {
			overrides[k] = fmt.Sprint(v)
		}
	}
	for k, v := range o.Vars {
		overrides[k] = v
	}
	for _, k := range sortedVarNames(overrides) {
		if !declared[k] {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s: variable %q is set (-var/-var-file) but the template does not declare it", file, k))
		}
		in.vars[k] = overrides[k] // given values are taken literally, never rendered
	}
	for _, k := range required {
		if _, ok := in.vars[k]; !ok {
			probs.addf(file, top.lines["variables"], "required variable %q is not set: pass -var %s=VALUE or a -var-file", k, k)
		}
	}
	var sensitive []string
	if sn, ok := top.vals["sensitive-variables"]; ok {
		list, _ := sn.plain().([]any)
		for _, e := range list {
			name, _ := e.(string)
			if _, set := in.vars[name]; !set {
				// Packer accepts this too (real templates do it): nothing to mask.
				plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s:%d: sensitive variable %q is not declared in variables", file, sn.line, name))
				continue
			}
			sensitive = appendUnique(sensitive, in.vars[name])
		}
	}
	return sensitive
}

func sortedVarNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// jsonBlock renders every string of an object node and wraps it as a block.
func jsonBlock(file string, n *node, what string, in *interp, probs *problems) *block {
	obj, ok := n.value.(*object)
	if !ok {
		probs.addf(file, n.line, "%s must be an object", what)
		return nil
	}
	b := &block{file: file, line: n.line, lines: obj.lines, what: what, attrs: map[string]any{}, p: probs}
	for _, k := range obj.keys {
		v, err := in.renderValue(obj.vals[k].plain())
		if err != nil {
			probs.addf(file, obj.lines[k], "%s: %s: %v", what, k, err)
			continue
		}
		b.attrs[k] = v
	}
	return b
}

func jsonBuilder(file string, top *object, o Options, in *interp, probs *problems, plan *recipe.Plan) string {
	bn, ok := top.vals["builders"]
	if !ok {
		probs.addf(file, 0, "no builders: add one builder of type %q", BuilderType)
		return BuilderType
	}
	list, _ := bn.value.([]*node)
	var found []*block
	for i, n := range list {
		b := jsonBlock(file, n, fmt.Sprintf("builder %d", i+1), in, probs)
		if b == nil {
			continue
		}
		typ := b.str("type")
		b.what = fmt.Sprintf("builder %d (%s)", i+1, typ)
		if typ != BuilderType {
			b.typeErr("builder type %q is not supported: mp-image builds DigitalOcean images only (type %q)", typ, BuilderType)
			continue
		}
		found = append(found, b)
	}
	switch {
	case len(list) == 0:
		probs.addf(file, bn.line, "no builders: add one builder of type %q", BuilderType)
	case len(list) > 1:
		probs.addf(file, bn.line, "%d builders: mp-image runs exactly one %q builder (split the template, one per image)", len(list), BuilderType)
	}
	if len(found) == 0 {
		return BuilderType
	}
	compileBuilder(found[0], o.BaseDir, plan)
	return plan.Builder.Name
}

// jsonPostProcessors accepts the manifest post-processor (its output path
// becomes the plan's manifest) and refuses every other one: they would run on
// the CI host after the build, which mp-image does not do.
func jsonPostProcessors(file string, pp *node, o Options, in *interp, probs *problems, plan *recipe.Plan) {
	var visit func(n *node, idx string)
	visit = func(n *node, idx string) {
		switch v := n.value.(type) {
		case string:
			postProcessor(&block{file: file, line: n.line, what: "post-processor " + idx, attrs: map[string]any{"type": v}, p: probs}, o, plan)
		case *object:
			b := jsonBlock(file, n, "post-processor "+idx, in, probs)
			if b != nil {
				postProcessor(b, o, plan)
			}
		case []*node:
			for i, e := range v {
				visit(e, fmt.Sprintf("%s.%d", idx, i+1))
			}
		default:
			probs.addf(file, n.line, "post-processor %s: want a name, an object or a list", idx)
		}
	}
	list, ok := pp.value.([]*node)
	if !ok {
		probs.addf(file, pp.line, "post-processors must be a list")
		return
	}
	for i, n := range list {
		visit(n, fmt.Sprint(i+1))
	}
}

func postProcessor(b *block, o Options, plan *recipe.Plan) {
	typ := b.str("type")
	b.what = fmt.Sprintf("%s (%s)", b.what, typ)
	if typ != "manifest" {
		why := "mp-image runs no post-processors but manifest; do this in a later workflow step using mp-image's outputs (snapshot-id, the --manifest file)"
		if typ == "shell-local" {
			why = "it runs on the CI host after the build: make it a later workflow step that reads mp-image's outputs (snapshot-id, the --manifest file)"
		}
		b.typeErr("post-processor type %q is not supported: %s", typ, why)
		return
	}
	b.unknown(set("type", "output", "strip_path", "strip_time", "custom_data", "only", "except", "name", "keep_input_artifact"), nil, func(string) {})
	out := b.str("output")
	if out == "" {
		out = "packer-manifest.json" // Packer's default
	}
	if plan.Manifest != "" {
		b.errf("", "a second manifest post-processor: keep one (mp-image writes one manifest)")
		return
	}
	plan.Manifest = localPath(o.BaseDir, out)
	plan.ManifestStripTime = b.boolean("strip_time")
	if m, ok := b.attrs["custom_data"].(map[string]any); ok {
		plan.ManifestCustomData = map[string]string{}
		for k, v := range m {
			if s, ok := v.(string); ok {
				plan.ManifestCustomData[k] = s
			} else {
				b.errf("custom_data", "%s: want a string, got %s", k, kind(v))
			}
		}
	} else if b.has("custom_data") {
		b.errf("custom_data", "want a map of strings, got %s", kind(b.attrs["custom_data"]))
	}
}

func dedupe(list []string) []string {
	var out []string
	for _, v := range list {
		out = appendUnique(out, v)
	}
	return out
}

// templateDir is the absolute folder of the template, for {{template_dir}}.
func templateDir(file string) string {
	abs, err := filepath.Abs(file)
	if err != nil {
		return filepath.Dir(file)
	}
	return filepath.Dir(abs)
}
