package packer

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

var rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "variables"},
	{Type: "locals"},
	{Type: "local", LabelNames: []string{"name"}},
	{Type: "source", LabelNames: []string{"type", "name"}},
	{Type: "build"},
	{Type: "packer"},
	{Type: "data", LabelNames: []string{"type", "name"}},
}}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "default"}, {Name: "type"}, {Name: "sensitive"}, {Name: "description"}, {Name: "nullable"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var buildSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "name"}, {Name: "description"}, {Name: "sources"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "source", LabelNames: []string{"reference"}},
		{Type: "provisioner", LabelNames: []string{"type"}},
		{Type: "error-cleanup-provisioner", LabelNames: []string{"type"}},
		{Type: "post-processor", LabelNames: []string{"type"}},
		{Type: "post-processors"},
		{Type: "hcp_packer_registry"},
	},
}

// hclTemplate is what loadHCL gathers before compiling.
type hclTemplate struct {
	o         Options
	root      string // folder of the template files, for path.root
	probs     *problems
	plan      *recipe.Plan
	files     []*hcl.File
	varDecls  map[string]*hcl.Block
	varTypes  map[string]cty.Type
	vars      map[string]cty.Value
	sensitive map[string]bool
	locals    map[string]cty.Value
	sources   map[string]*hcl.Block // "source.digitalocean.NAME"
	builds    []*hcl.Block
	localDefs []*hcl.Attribute
	localSens map[string]bool
}

func loadHCL(path string, o Options) (*recipe.Plan, error) {
	t := &hclTemplate{
		o: o, probs: &problems{}, plan: &recipe.Plan{Source: "packer:" + path},
		varDecls: map[string]*hcl.Block{}, varTypes: map[string]cty.Type{}, vars: map[string]cty.Value{},
		sensitive: map[string]bool{}, locals: map[string]cty.Value{}, sources: map[string]*hcl.Block{}, localSens: map[string]bool{},
	}
	var files, autoVarFiles []string
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		t.root = path
		files, _ = filepath.Glob(filepath.Join(path, "*.pkr.hcl"))
		autoVarFiles, _ = filepath.Glob(filepath.Join(path, "*.auto.pkrvars.hcl"))
		if len(files) == 0 {
			return nil, fmt.Errorf("%s holds no *.pkr.hcl files: pass a template file or the folder holding them", path)
		}
	} else {
		t.root = filepath.Dir(path)
		files = []string{path}
	}
	parser := hclparse.NewParser()
	for _, f := range files {
		hf, diags := parser.ParseHCLFile(f)
		t.diags(diags)
		if hf != nil {
			t.files = append(t.files, hf)
		}
	}
	if err := t.probs.err(); err != nil {
		return nil, err // syntax errors: nothing below would make sense
	}
	for _, f := range t.files {
		t.collect(f)
	}
	t.resolveVariables(parser, autoVarFiles)
	t.resolveLocals()
	t.compileBuild()
	if err := t.probs.err(); err != nil {
		return nil, err
	}
	sort.Strings(t.plan.Warnings)
	return t.plan, nil
}

// diags turns HCL diagnostics into file:line problems (warnings into plan warnings).
func (t *hclTemplate) diags(ds hcl.Diagnostics) {
	for _, d := range ds {
		file, line := "", 0
		if d.Subject != nil {
			file, line = d.Subject.Filename, d.Subject.Start.Line
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Severity == hcl.DiagWarning {
			t.plan.Warnings = append(t.plan.Warnings, pos(file, line)+": "+msg)
			continue
		}
		t.probs.addf(file, line, "%s", msg)
	}
}

func (t *hclTemplate) errAt(r hcl.Range, format string, args ...any) {
	t.probs.addf(r.Filename, r.Start.Line, format, args...)
}

func (t *hclTemplate) collect(f *hcl.File) {
	content, diags := f.Body.Content(rootSchema)
	t.diags(diags)
	if content == nil {
		return
	}
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			name := b.Labels[0]
			if prev, dup := t.varDecls[name]; dup {
				t.errAt(b.DefRange, "variable %q is declared twice (first at %s)", name, pos(prev.DefRange.Filename, prev.DefRange.Start.Line))
				continue
			}
			t.varDecls[name] = b
		case "variables": // the older block form: name = default
			attrs, diags := b.Body.JustAttributes()
			t.diags(diags)
			for name, a := range attrs {
				t.varDecls[name] = &hcl.Block{Type: "variable", Labels: []string{name}, DefRange: a.Range,
					Body: hcl.EmptyBody()}
				v, diags := a.Expr.Value(t.evalCtx(false))
				t.diags(diags)
				t.vars[name] = v
			}
		case "locals":
			attrs, diags := b.Body.JustAttributes()
			t.diags(diags)
			for _, a := range sortedAttrs(attrs) {
				t.localDefs = append(t.localDefs, a)
			}
		case "local":
			c, diags := b.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "expression", Required: true}, {Name: "sensitive"}}})
			t.diags(diags)
			if c == nil || c.Attributes["expression"] == nil {
				continue
			}
			a := *c.Attributes["expression"]
			a.Name = b.Labels[0]
			t.localDefs = append(t.localDefs, &a)
			if s := c.Attributes["sensitive"]; s != nil {
				v, diags := s.Expr.Value(nil)
				t.diags(diags)
				t.localSens[a.Name] = v.Type() == cty.Bool && v.IsKnown() && !v.IsNull() && v.True()
			}
		case "source":
			typ, name := b.Labels[0], b.Labels[1]
			if typ != BuilderType {
				t.errAt(b.DefRange, "source %q %q: builder type %q is not supported: mp-image builds DigitalOcean images only (source %q)", typ, name, typ, BuilderType)
				continue
			}
			t.sources["source."+typ+"."+name] = b
		case "build":
			t.builds = append(t.builds, b)
		case "packer": // required_version / required_plugins: nothing to install, mp-image is the plugin
		case "data":
			t.errAt(b.DefRange, "data source %q is not supported: compute the value in a workflow step and pass it with -var", b.Labels[0])
		}
	}
}

func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Range.Filename != out[j].Range.Filename {
			return out[i].Range.Filename < out[j].Range.Filename
		}
		return out[i].Range.Start.Byte < out[j].Range.Start.Byte
	})
	return out
}

// resolveVariables applies Packer's precedence: default, PKR_VAR_ env,
// *.auto.pkrvars.hcl, -var-file in order, then -var.
func (t *hclTemplate) resolveVariables(parser *hclparse.Parser, autoVarFiles []string) {
	names := make([]string, 0, len(t.varDecls))
	for n := range t.varDecls {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		b := t.varDecls[name]
		if b.Body == hcl.EmptyBody() || b.Body == nil {
			continue
		}
		c, diags := b.Body.Content(variableSchema)
		t.diags(diags)
		if c == nil {
			continue
		}
		t.varTypes[name] = cty.DynamicPseudoType
		if a := c.Attributes["type"]; a != nil {
			ty, diags := typeexpr.TypeConstraint(a.Expr)
			t.diags(diags)
			if !diags.HasErrors() {
				t.varTypes[name] = ty
			}
		}
		if a := c.Attributes["default"]; a != nil {
			v, diags := a.Expr.Value(t.evalCtx(false))
			t.diags(diags)
			t.vars[name] = t.convert(name, v, a.Range)
		}
		if a := c.Attributes["sensitive"]; a != nil {
			v, diags := a.Expr.Value(nil)
			t.diags(diags)
			t.sensitive[name] = v.Type() == cty.Bool && v.IsKnown() && !v.IsNull() && v.True()
		}
	}
	for _, name := range names {
		if s := t.o.Env("PKR_VAR_" + name); s != "" {
			t.setFromString(name, s, hcl.Range{Filename: "PKR_VAR_" + name})
		}
	}
	for _, vf := range append(autoVarFiles, t.o.VarFiles...) {
		var f *hcl.File
		var diags hcl.Diagnostics
		if strings.HasSuffix(vf, ".json") {
			f, diags = parser.ParseJSONFile(vf)
		} else {
			f, diags = parser.ParseHCLFile(vf)
		}
		t.diags(diags)
		if f == nil {
			continue
		}
		attrs, diags := f.Body.JustAttributes()
		t.diags(diags)
		for _, a := range sortedAttrs(attrs) {
			if _, ok := t.varDecls[a.Name]; !ok {
				t.plan.Warnings = append(t.plan.Warnings, fmt.Sprintf("%s: variable %q is set but the template does not declare it", pos(vf, a.Range.Start.Line), a.Name))
				continue
			}
			v, diags := a.Expr.Value(t.evalCtx(false))
			t.diags(diags)
			t.vars[a.Name] = t.convert(a.Name, v, a.Range)
		}
	}
	cli := make([]string, 0, len(t.o.Vars))
	for k := range t.o.Vars {
		cli = append(cli, k)
	}
	sort.Strings(cli)
	for _, k := range cli {
		if _, ok := t.varDecls[k]; !ok {
			t.plan.Warnings = append(t.plan.Warnings, fmt.Sprintf("-var %s: the template does not declare variable %q", k, k))
			continue
		}
		t.setFromString(k, t.o.Vars[k], hcl.Range{Filename: "-var " + k})
	}
	for _, name := range names {
		if _, ok := t.vars[name]; !ok {
			t.errAt(t.varDecls[name].DefRange, "required variable %q is not set: pass -var %s=VALUE, a -var-file, or PKR_VAR_%s", name, name, name)
			continue
		}
		if t.sensitive[name] {
			for _, s := range stringsIn(t.vars[name]) {
				t.plan.Builder.Sensitive = appendUnique(t.plan.Builder.Sensitive, s)
			}
		}
	}
}

// setFromString sets a variable from -var or the environment: a string for
// string (or untyped) variables, else parsed as an HCL expression, as Packer does.
func (t *hclTemplate) setFromString(name, s string, r hcl.Range) {
	ty := t.varTypes[name]
	if ty == cty.DynamicPseudoType || ty == cty.String || ty == cty.NilType {
		t.vars[name] = cty.StringVal(s)
		return
	}
	expr, diags := hclsyntax.ParseExpression([]byte(s), r.Filename, hcl.InitialPos)
	t.diags(diags)
	if diags.HasErrors() {
		return
	}
	v, diags := expr.Value(nil)
	t.diags(diags)
	t.vars[name] = t.convert(name, v, r)
}

func (t *hclTemplate) convert(name string, v cty.Value, r hcl.Range) cty.Value {
	ty, ok := t.varTypes[name]
	if !ok || ty == cty.DynamicPseudoType || ty == cty.NilType {
		return v
	}
	out, err := convert.Convert(v, ty)
	if err != nil {
		t.errAt(r, "variable %q: %v (want %s)", name, err, typeexpr.TypeString(ty))
		return v
	}
	return out
}

// resolveLocals evaluates locals in as many passes as their references need.
func (t *hclTemplate) resolveLocals() {
	pending := t.localDefs
	for len(pending) > 0 {
		var next []*hcl.Attribute
		var lastDiags []hcl.Diagnostics
		for _, a := range pending {
			v, diags := a.Expr.Value(t.evalCtx(true))
			if diags.HasErrors() {
				next = append(next, a)
				lastDiags = append(lastDiags, diags)
				continue
			}
			t.locals[a.Name] = v
			if t.localSens[a.Name] {
				for _, s := range stringsIn(v) {
					t.plan.Builder.Sensitive = appendUnique(t.plan.Builder.Sensitive, s)
				}
			}
		}
		if len(next) == len(pending) { // no progress: report why each one failed
			for _, d := range lastDiags {
				t.diags(d)
			}
			return
		}
		pending = next
	}
}

// evalCtx exposes var, local and path, and Packer's functions.
func (t *hclTemplate) evalCtx(withLocals bool) *hcl.EvalContext {
	vars := map[string]cty.Value{
		"var":  cty.ObjectVal(copyVals(t.vars)),
		"path": cty.ObjectVal(map[string]cty.Value{"root": cty.StringVal(absOr(t.root)), "cwd": cty.StringVal(t.o.BaseDir)}),
	}
	if withLocals {
		vars["local"] = cty.ObjectVal(copyVals(t.locals))
	}
	return &hcl.EvalContext{Variables: vars, Functions: t.functions()}
}

func copyVals(m map[string]cty.Value) map[string]cty.Value {
	out := make(map[string]cty.Value, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func (t *hclTemplate) compileBuild() {
	switch len(t.builds) {
	case 0:
		t.probs.addf(t.plan.Source[len("packer:"):], 0, "no build block: add build { sources = [\"source.digitalocean.NAME\"] ... }")
		return
	case 1:
	default:
		t.errAt(t.builds[1].DefRange, "a second build block: mp-image runs one build per template (split the template)")
		return
	}
	bb := t.builds[0]
	c, diags := bb.Body.Content(buildSchema)
	t.diags(diags)
	if c == nil {
		return
	}
	ctx := t.evalCtx(true)
	var refs []string
	overrides := map[string]*hcl.Block{}
	if a := c.Attributes["sources"]; a != nil {
		refs = t.sourceRefs(a, ctx)
	}
	for _, b := range c.Blocks {
		if b.Type == "source" {
			refs = append(refs, b.Labels[0])
			overrides[b.Labels[0]] = b
		}
	}
	if len(refs) != 1 {
		t.errAt(bb.DefRange, "build uses %d sources: mp-image runs exactly one source \"digitalocean\" per build", len(refs))
	}
	builderName := BuilderType
	if len(refs) > 0 {
		src, ok := t.sources[refs[0]]
		if !ok {
			t.errAt(bb.DefRange, "build refers to %s, which is not a source \"digitalocean\" block in the template", refs[0])
		} else {
			b := t.attrBlock(src.Body, ctx, src.DefRange, fmt.Sprintf("source %q %q", src.Labels[0], src.Labels[1]))
			if ov := overrides[refs[0]]; ov != nil {
				o := t.attrBlock(ov.Body, ctx, ov.DefRange, "build source override")
				for k, v := range o.attrs {
					b.attrs[k], b.lines[k] = v, o.lines[k]
				}
				delete(b.attrs, "name")
			}
			b.attrs["name"] = src.Labels[1]
			sens := t.plan.Builder.Sensitive
			compileBuilder(b, t.o.BaseDir, t.plan)
			t.plan.Builder.Sensitive = dedupe(append(sens, t.plan.Builder.Sensitive...))
			builderName = src.Labels[1]
		}
	}
	step := 0
	for _, b := range c.Blocks {
		switch b.Type {
		case "provisioner":
			step++
			typ := b.Labels[0]
			what := fmt.Sprintf("provisioner %d (%s)", step, typ)
			if typ != "shell" && typ != "file" {
				pb := &block{file: b.DefRange.Filename, line: b.DefRange.Start.Line, what: what, attrs: map[string]any{}, p: t.probs}
				compileProvisioner(pb, step, typ, builderName, t.o.BaseDir, t.plan)
				continue
			}
			pb := t.attrBlock(b.Body, ctx, b.DefRange, what)
			compileProvisioner(pb, step, typ, builderName, t.o.BaseDir, t.plan)
		case "error-cleanup-provisioner":
			t.errAt(b.DefRange, "error-cleanup-provisioner is not supported: mp-image deletes the build droplet on failure; put recovery into your scripts")
		case "post-processor":
			t.postProcessor(b, ctx, "post-processor")
		case "post-processors":
			inner, diags := b.Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "post-processor", LabelNames: []string{"type"}}}})
			t.diags(diags)
			if inner != nil {
				for _, pb := range inner.Blocks {
					t.postProcessor(pb, ctx, "post-processor")
				}
			}
		case "hcp_packer_registry":
			t.plan.Warnings = append(t.plan.Warnings, pos(b.DefRange.Filename, b.DefRange.Start.Line)+": hcp_packer_registry is ignored: mp-image publishes nothing to HCP")
		}
	}
	if len(t.plan.Actions) == 0 && t.probs.err() == nil {
		t.plan.Warnings = append(t.plan.Warnings, "the build has no provisioners: the image will be the base image plus mp-image's cleanup")
	}
}

func (t *hclTemplate) postProcessor(b *hcl.Block, ctx *hcl.EvalContext, what string) {
	typ := b.Labels[0]
	if typ != "manifest" {
		pb := &block{file: b.DefRange.Filename, line: b.DefRange.Start.Line, what: what, attrs: map[string]any{"type": typ}, p: t.probs}
		postProcessor(pb, t.o, t.plan)
		return
	}
	pb := t.attrBlock(b.Body, ctx, b.DefRange, what)
	pb.attrs["type"] = typ
	postProcessor(pb, t.o, t.plan)
}

// sourceRefs reads build.sources: strings ("source.digitalocean.x") or bare references.
func (t *hclTemplate) sourceRefs(a *hcl.Attribute, ctx *hcl.EvalContext) []string {
	if v, diags := a.Expr.Value(ctx); !diags.HasErrors() {
		var out []string
		for _, s := range stringsIn(v) {
			out = append(out, s)
		}
		return out
	}
	exprs, diags := hcl.ExprList(a.Expr)
	t.diags(diags)
	var out []string
	for _, e := range exprs {
		tr, diags := hcl.AbsTraversalForExpr(e)
		t.diags(diags)
		if diags.HasErrors() {
			continue
		}
		var parts []string
		for _, step := range tr {
			switch s := step.(type) {
			case hcl.TraverseRoot:
				parts = append(parts, s.Name)
			case hcl.TraverseAttr:
				parts = append(parts, s.Name)
			}
		}
		out = append(out, strings.Join(parts, "."))
	}
	return out
}

// attrBlock evaluates every attribute of body into a block.
func (t *hclTemplate) attrBlock(body hcl.Body, ctx *hcl.EvalContext, def hcl.Range, what string) *block {
	b := &block{file: def.Filename, line: def.Start.Line, what: what, attrs: map[string]any{}, lines: map[string]int{}, p: t.probs}
	attrs, diags := body.JustAttributes()
	t.diags(diags)
	for _, a := range sortedAttrs(attrs) {
		v, diags := a.Expr.Value(ctx)
		t.diags(diags)
		b.lines[a.Name] = a.NameRange.Start.Line
		if diags.HasErrors() {
			b.attrs[a.Name] = invalid{}
			continue
		}
		g, err := toGo(v)
		if err != nil {
			t.errAt(a.Range, "%s: %s: %v", what, a.Name, err)
			b.attrs[a.Name] = invalid{}
			continue
		}
		b.attrs[a.Name], b.lines[a.Name] = g, a.NameRange.Start.Line
	}
	return b
}

// toGo converts a cty value to the plain shapes encoding/json produces.
func toGo(v cty.Value) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	if !v.IsWhollyKnown() {
		return nil, fmt.Errorf("value is not known until the build runs")
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return v.AsString(), nil
	case ty == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		return f, nil
	case ty == cty.Bool:
		return v.True(), nil
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		var out []any
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			g, err := toGo(e)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	case ty.IsMapType() || ty.IsObjectType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			g, err := toGo(e)
			if err != nil {
				return nil, err
			}
			out[k.AsString()] = g
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value type %s", ty.FriendlyName())
}

// stringsIn lists the known string leaves of v (for sensitive values and source lists).
func stringsIn(v cty.Value) []string {
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		if s := v.AsString(); s != "" {
			return []string{s}
		}
	case ty.IsCollectionType() || ty.IsTupleType() || ty.IsObjectType():
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, stringsIn(e)...)
		}
		return out
	}
	return nil
}

// functions are the HCL functions Packer templates commonly use.
func (t *hclTemplate) functions() map[string]function.Function {
	now := t.o.Now().UTC()
	str := func(impl func(string) (string, error)) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "s", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				out, err := impl(args[0].AsString())
				return cty.StringVal(out), err
			},
		})
	}
	noArg := func(impl func() string) function.Function {
		return function.New(&function.Spec{
			Type: function.StaticReturnType(cty.String),
			Impl: func([]cty.Value, cty.Type) (cty.Value, error) { return cty.StringVal(impl()), nil },
		})
	}
	base := t.o.BaseDir
	fns := map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc, "chunklist": stdlib.ChunklistFunc,
		"coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc, "compact": stdlib.CompactFunc,
		"concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc, "csvdecode": stdlib.CSVDecodeFunc,
		"distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc,
		"floor": stdlib.FloorFunc, "format": stdlib.FormatFunc, "formatdate": stdlib.FormatDateFunc,
		"formatlist": stdlib.FormatListFunc, "indent": stdlib.IndentFunc, "index": stdlib.IndexFunc,
		"join": stdlib.JoinFunc, "jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc,
		"keys": stdlib.KeysFunc, "log": stdlib.LogFunc, "lookup": stdlib.LookupFunc, "lower": stdlib.LowerFunc,
		"max": stdlib.MaxFunc, "merge": stdlib.MergeFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc,
		"pow": stdlib.PowFunc, "range": stdlib.RangeFunc, "regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc,
		"regex_replace": stdlib.RegexReplaceFunc, "replace": stdlib.ReplaceFunc, "reverse": stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc, "setproduct": stdlib.SetProductFunc, "setunion": stdlib.SetUnionFunc,
		"signum": stdlib.SignumFunc, "slice": stdlib.SliceFunc, "sort": stdlib.SortFunc, "split": stdlib.SplitFunc,
		"strrev": stdlib.ReverseFunc, "substr": stdlib.SubstrFunc, "timeadd": stdlib.TimeAddFunc, "title": stdlib.TitleFunc,
		"trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc, "trimspace": stdlib.TrimSpaceFunc,
		"trimsuffix": stdlib.TrimSuffixFunc, "upper": stdlib.UpperFunc, "values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"tostring": stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number), "tobool": stdlib.MakeToFunc(cty.Bool),
		"tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)), "toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"try":   tryfunc.TryFunc, "can": tryfunc.CanFunc,
		"timestamp":      noArg(func() string { return now.Format("2006-01-02T15:04:05Z07:00") }),
		"uuidv4":         noArg(t.o.UUID),
		"legacy_isotime": str(func(f string) (string, error) { return now.Format(f), nil }),
		"env":            str(func(k string) (string, error) { return t.o.Env(k), nil }),
		"basename":       str(func(p string) (string, error) { return filepath.Base(p), nil }),
		"dirname":        str(func(p string) (string, error) { return filepath.Dir(p), nil }),
		"abspath":        str(func(p string) (string, error) { return filepath.Abs(localPath(base, p)) }),
		"file": str(func(p string) (string, error) {
			b, err := os.ReadFile(localPath(base, p))
			if err != nil {
				return "", fmt.Errorf("read %s (relative to %s): %w", p, base, rootCause(err))
			}
			return string(b), nil
		}),
	}
	// length works on strings too in Packer (and Terraform), not only on collections.
	fns["length"] = function.New(&function.Spec{
		Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true}},
		Type:   function.StaticReturnType(cty.Number),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if args[0].Type() == cty.String {
				return stdlib.Strlen(args[0])
			}
			return stdlib.Length(args[0])
		},
	})
	return fns
}
