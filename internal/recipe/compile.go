package recipe

import (
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/shell"
)

// PlanOptions are the build settings a recipe's plan depends on.
type PlanOptions struct {
	Vendor string            // first-login files go to /opt/<Vendor>/
	Env    map[string]string // environment of every script (build config "env")
}

var vendorName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// FirstLoginMarker tags the lines the first-login hook adds to /root/.bashrc.
const FirstLoginMarker = "# mp-image first-login"

// Plan compiles the recipe into the steps a build runs: files/ onto /, the
// scripts in name order, the per-instance scripts, then first-login.
func (r *Recipe) Plan(o PlanOptions) (*Plan, error) {
	p := &Plan{Source: "recipe:" + r.Dir, Warnings: append([]string(nil), r.Warnings...)}
	if r.HasFiles {
		p.Actions = append(p.Actions, Action{
			Kind: KindUpload, Name: DirFiles + "/", File: rel(r.Dir, DirFiles),
			LocalPath: filepath.Join(r.Dir, DirFiles), RemotePath: "/", Contents: true,
		})
	}
	for _, s := range r.Scripts {
		p.Actions = append(p.Actions, r.shell(s, o.Env))
	}
	for _, s := range r.PerInstance {
		p.Actions = append(p.Actions, Action{
			Kind: KindPerInstance, Name: s.Name, File: s.Path,
			LocalPath: s.Path, RemotePath: path.Join(PerInstanceDir, path.Base(s.Name)), Mode: 0o755,
		})
	}
	if len(r.FirstLogin) > 0 {
		if !vendorName.MatchString(o.Vendor) {
			if o.Vendor == "" {
				return nil, fmt.Errorf("%s needs a vendor name for /opt/<vendor>/: set --vendor (input vendor), e.g. --vendor acme", rel(r.Dir, DirFirstLogin))
			}
			return nil, fmt.Errorf("vendor %q is not usable as a folder name under /opt: use letters, digits, '.', '_' or '-'", o.Vendor)
		}
		dest := "/opt/" + o.Vendor
		p.Actions = append(p.Actions,
			Action{
				Kind: KindFirstLogin, Name: DirFirstLogin + "/", File: rel(r.Dir, DirFirstLogin),
				LocalPath: filepath.Join(r.Dir, DirFirstLogin), RemotePath: dest, Contents: true,
			},
			Action{
				Kind: KindShell, Name: "first-login hook in /root/.bashrc", File: filepath.Join(r.Dir, DirFirstLogin, r.Entry),
				Script: FirstLoginHook(path.Join(dest, r.Entry)), Env: map[string]string{},
			})
	}
	for _, s := range r.Verify {
		p.Verify = append(p.Verify, r.shell(s, o.Env))
	}
	return p, nil
}

func (r *Recipe) shell(s Script, env map[string]string) Action {
	e := maps.Clone(env)
	if e == nil {
		e = map[string]string{}
	}
	return Action{Kind: KindShell, Name: s.Name, File: s.Path, Script: s.Body, ScriptPath: s.Path, Env: e}
}

// FirstLoginHook is the script that makes entry run once, on root's first
// interactive login: /root/.bashrc calls it, then restores /etc/skel/.bashrc
// so the call is gone. Non-interactive shells (ssh host 'cmd', the boot test)
// skip it, so only a person sees it. The marker makes re-running idempotent.
func FirstLoginHook(entry string) []byte {
	q := shell.Quote(entry)
	lines := []string{
		"#!/bin/sh",
		"# Installed by mp-image: call " + entry + " once, from root's first interactive login.",
		"set -eu",
		"chmod 0755 " + q,
		"touch /root/.bashrc",
		"grep -qF '" + FirstLoginMarker + "' /root/.bashrc && exit 0",
		"cat >> /root/.bashrc <<'MP_IMAGE_EOF'",
		FirstLoginMarker + ": runs once, then /root/.bashrc is restored from /etc/skel/.bashrc",
		`case "$-" in *i*) if [ -x ` + q + ` ]; then cp -f /etc/skel/.bashrc /root/.bashrc; ` + q + `; fi ;; esac ` + FirstLoginMarker,
		"MP_IMAGE_EOF",
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}
