package packer

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// interp renders Packer's legacy template strings. Packer's syntax is Go
// template syntax with backquoted arguments ({{user `x`}}), so text/template
// with Packer's function names does the job.
type interp struct {
	vars  map[string]string
	funcs template.FuncMap
	data  any
}

// execData keeps the placeholders the shell provisioner fills in later
// ({{.Vars}}, {{.Path}}) as they are: rendering them now would lose them.
type execData struct{ Vars, Path string }

func newInterp(file string, o Options) (*interp, error) {
	in := &interp{vars: map[string]string{}, data: execData{Vars: "{{.Vars}}", Path: "{{.Path}}"}}
	// One clock reading per build: every {{timestamp}} in a template agrees, as in Packer.
	now := o.Now().UTC()
	in.funcs = template.FuncMap{
		"user": func(name string) string { return in.vars[name] }, // undefined renders "" as in Packer
		"env":  func(name string) string { return o.Env(name) },
		"timestamp": func() string {
			return strconv.FormatInt(now.Unix(), 10)
		},
		"isotime": func(format ...string) (string, error) {
			if len(format) == 0 {
				return now.Format(time.RFC3339), nil
			}
			if len(format) > 1 {
				return "", fmt.Errorf("isotime takes at most one format")
			}
			return now.Format(format[0]), nil
		},
		"uuid":           func() string { return o.UUID() },
		"template_dir":   func() string { return templateDir(file) },
		"pwd":            func() string { return o.BaseDir },
		"build_name":     func() string { return BuilderType },
		"build_type":     func() string { return BuilderType },
		"lower":          strings.ToLower,
		"upper":          strings.ToUpper,
		"packer_version": func() string { return "1.11.0" }, // the version whose template language we follow
		"split": func(s, sep string, i int) (string, error) {
			parts := strings.Split(s, sep)
			if i < 0 || i >= len(parts) {
				return "", fmt.Errorf("split: index %d out of range (%d parts)", i, len(parts))
			}
			return parts[i], nil
		},
		"replace":     func(old, new string, n int, s string) string { return strings.Replace(s, old, new, n) },
		"replace_all": func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"clean_resource_name": func(s string) string {
			return strings.Trim(invalidResourceChars.ReplaceAllString(strings.ToLower(s), "-"), "-")
		},
	}
	return in, nil
}

var invalidResourceChars = regexp.MustCompile(`[^a-z0-9-]+`)

// render expands one string; strings without "{{" are returned untouched.
func (in *interp) render(s string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	t, err := template.New("").Funcs(in.funcs).Option("missingkey=zero").Parse(s)
	if err != nil {
		return "", fmt.Errorf("template %q: %v", s, cleanTemplateErr(err))
	}
	var sb strings.Builder
	if err := t.Execute(&sb, in.data); err != nil {
		return "", fmt.Errorf("template %q: %v", s, cleanTemplateErr(err))
	}
	return sb.String(), nil
}

// renderValue expands every string inside a decoded JSON value.
func (in *interp) renderValue(v any) (any, error) {
	switch v := v.(type) {
	case string:
		return in.render(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := in.renderValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := in.renderValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

// cleanTemplateErr drops text/template's internal naming ("template: :1:")
// which means nothing to a template author.
func cleanTemplateErr(err error) string {
	s := err.Error()
	s = regexp.MustCompile(`^template: :\d+(:\d+)?: `).ReplaceAllString(s, "")
	if strings.Contains(s, "function") && strings.Contains(s, "not defined") {
		s += " (supported: user, env, timestamp, isotime, uuid, template_dir, pwd, build_name, build_type, lower, upper, split, replace, replace_all, clean_resource_name)"
	}
	return s
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the OS random source never fails on Linux
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
