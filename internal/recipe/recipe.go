// Package recipe turns a recipe folder (files/, scripts/, per-instance/, first-login/, verify/) into the Plan a build executes.
package recipe

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
	"github.com/mp-image-action/mp-image-action/internal/errlist"
)

// The folders a recipe may hold, in the order the build uses them.
const (
	DirFiles       = "files"        // copied onto / of the droplet
	DirScripts     = "scripts"      // run in name order as root
	DirPerInstance = "per-instance" // first boot of every droplet made from the image
	DirFirstLogin  = "first-login"  // once, on root's first login shell
	DirVerify      = "verify"       // boot test, on a droplet made from the snapshot
	DirFreshness   = "freshness"    // latest-version, run on the runner by `mp-image freshness`
)

// PerInstanceDir is where cloud-init looks for scripts run once per new droplet.
const PerInstanceDir = "/var/lib/cloud/scripts/per-instance"

// FirstLoginEntry is the file first-login/ must have when it holds several
// files; with exactly one file, that file is the entry point.
const FirstLoginEntry = "run"

// Recipe is a validated recipe folder.
type Recipe struct {
	Dir         string   // the folder as given
	HasFiles    bool     // files/ exists and is not empty
	Scripts     []Script // scripts/, in name order
	PerInstance []Script // per-instance/, in name order
	FirstLogin  []Script // first-login/, every file (all are installed)
	Entry       string   // the first-login file called from /root/.bashrc ("" without first-login/)
	Verify      []Script // verify/, in name order
	Warnings    []string // accepted but worth a look (unknown entries, ...)
}

// Script is one file of a recipe folder.
type Script struct {
	Name string      // path relative to the recipe folder, slash-separated: "scripts/10-nginx.sh"
	Path string      // path on this machine
	Body []byte      // contents
	Mode fs.FileMode // permission bits
}

// safeName keeps script names usable unquoted in remote paths and logs.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]*$`)

// ignoredTopLevel are entries a recipe folder commonly holds besides its own
// folders; they are not warned about.
var ignoredTopLevel = regexp.MustCompile(`(?i)^(readme|license|licence|changelog|notes)(\..*)?$|\.md$`)

// Load reads and validates a recipe folder. It reports every problem found,
// each as one line naming the file and the fix, not just the first.
func Load(dir string) (*Recipe, error) {
	if dir == "" {
		return nil, errors.New("no recipe folder given: pass --dir (input dir) with a folder holding files/, scripts/, per-instance/ or first-login/")
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("recipe folder %s does not exist: check --dir (paths are relative to %s)", dir, cwd())
	case err != nil:
		return nil, fmt.Errorf("recipe folder %s: %w", dir, err)
	case !st.IsDir():
		return nil, fmt.Errorf("recipe folder %s is a file, not a folder: pass the folder holding files/ and scripts/ to --dir", dir)
	}
	r := &Recipe{Dir: dir}
	var errs *multierror.Error
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read recipe folder %s: %w", dir, err)
	}
	known := map[string]bool{DirFiles: true, DirScripts: true, DirPerInstance: true, DirFirstLogin: true, DirVerify: true, DirFreshness: true}
	for _, e := range entries {
		name := e.Name()
		switch {
		case known[name]:
			if !e.IsDir() {
				errs = multierror.Append(errs, fmt.Errorf("%s is a file: it must be a folder (rename it, or move it into %s/)", rel(dir, name), name))
			}
		case strings.HasPrefix(name, ".") || ignoredTopLevel.MatchString(name):
		default:
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s is not part of a recipe and is ignored (a recipe uses files/, scripts/, per-instance/, first-login/, verify/, freshness/)", rel(dir, name)))
		}
	}

	if err := r.loadFiles(); err != nil {
		errs = multierror.Append(errs, err)
	}
	var e error
	r.Scripts, e = loadScripts(dir, DirScripts, false)
	errs = multierror.Append(errs, e)
	r.PerInstance, e = loadScripts(dir, DirPerInstance, true)
	errs = multierror.Append(errs, e)
	r.FirstLogin, e = loadScripts(dir, DirFirstLogin, false)
	errs = multierror.Append(errs, e)
	r.Verify, e = loadScripts(dir, DirVerify, false)
	errs = multierror.Append(errs, e)
	if err := r.pickEntry(); err != nil {
		errs = multierror.Append(errs, err)
	}
	if errs.ErrorOrNil() == nil && !r.HasFiles && len(r.Scripts) == 0 && len(r.PerInstance) == 0 && len(r.FirstLogin) == 0 {
		errs = multierror.Append(errs, fmt.Errorf("recipe folder %s is empty: add files/ (copied onto /) or scripts/ (run as root in name order)", dir))
	}
	if err := errs.ErrorOrNil(); err != nil {
		errs.ErrorFormat = errlist.Counted("problems in the recipe")
		return nil, errs
	}
	return r, nil
}

// loadFiles checks files/ holds only what a tar stream can carry.
func (r *Recipe) loadFiles() error {
	root := filepath.Join(r.Dir, DirFiles)
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil
	}
	var errs *multierror.Error
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = multierror.Append(errs, fmt.Errorf("%s: %w", p, err))
			return nil
		}
		if p == root {
			return nil
		}
		t := d.Type()
		switch {
		case t.IsRegular(), t.IsDir(), t&fs.ModeSymlink != 0:
			r.HasFiles = true
		default:
			errs = multierror.Append(errs, fmt.Errorf("%s is a %s: files/ may hold only files, folders and symlinks (remove it)", p, t.Type()))
		}
		return nil
	})
	if err != nil {
		errs = multierror.Append(errs, err)
	}
	return errs.ErrorOrNil()
}

// loadScripts reads every file of sub/ in name order and checks it can run
// on its own: a shebang, LF line endings, a name usable in a remote path,
// and (for per-instance, which cloud-init runs directly) the executable bit.
func loadScripts(dir, sub string, needExec bool) ([]Script, error) {
	root := filepath.Join(dir, sub)
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		if st, serr := os.Stat(root); serr == nil && !st.IsDir() {
			return nil, nil // reported by Load as "is a file"
		}
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	var errs *multierror.Error
	var out []Script
	for _, e := range entries {
		name := path.Join(sub, e.Name())
		p := filepath.Join(root, e.Name())
		if e.IsDir() {
			errs = multierror.Append(errs, fmt.Errorf("%s is a folder: %s/ holds only scripts (move helper files into files/ and call them from a script)", rel(dir, name), sub))
			continue
		}
		if strings.HasPrefix(e.Name(), ".") {
			continue // editor and VCS leftovers such as .gitkeep
		}
		if !safeName.MatchString(e.Name()) {
			errs = multierror.Append(errs, fmt.Errorf("%s: name may hold only letters, digits and . _ - @ + (rename it)", rel(dir, name)))
			continue
		}
		st, err := os.Stat(p) // follows symlinks: a linked script is fine
		if err != nil {
			errs = multierror.Append(errs, fmt.Errorf("%s: %w", rel(dir, name), err))
			continue
		}
		if !st.Mode().IsRegular() {
			errs = multierror.Append(errs, fmt.Errorf("%s is not a regular file (remove it)", rel(dir, name)))
			continue
		}
		body, err := os.ReadFile(p)
		if err != nil {
			errs = multierror.Append(errs, fmt.Errorf("read %s: %w", rel(dir, name), err))
			continue
		}
		s := Script{Name: name, Path: p, Body: body, Mode: st.Mode().Perm()}
		for _, problem := range checkScript(rel(dir, name), body, s.Mode, needExec) {
			errs = multierror.Append(errs, problem)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errs.ErrorOrNil()
}

// checkScript returns one error per problem that would make the script fail
// or hang on the droplet, each saying how to fix it.
func checkScript(name string, body []byte, mode fs.FileMode, needExec bool) []error {
	var errs []error
	if len(bytes.TrimSpace(body)) == 0 {
		return []error{fmt.Errorf("%s is empty: add commands or delete it", name)}
	}
	if !bytes.HasPrefix(body, []byte("#!")) {
		errs = append(errs, fmt.Errorf("%s has no shebang: add a first line such as #!/bin/bash (scripts run by their own interpreter)", name))
	}
	if bytes.Contains(body, []byte("\r\n")) {
		errs = append(errs, fmt.Errorf("%s has CRLF (Windows) line endings: convert it with dos2unix %s (or sed -i 's/\\r$//' %s)", name, name, name))
	}
	if needExec && mode&0o111 == 0 {
		errs = append(errs, fmt.Errorf("%s is not executable: chmod +x %s", name, name))
	}
	return errs
}

// pickEntry decides which first-login file /root/.bashrc calls.
func (r *Recipe) pickEntry() error {
	switch len(r.FirstLogin) {
	case 0:
		return nil
	case 1:
		r.Entry = path.Base(r.FirstLogin[0].Name)
		return nil
	}
	for _, s := range r.FirstLogin {
		if path.Base(s.Name) == FirstLoginEntry {
			r.Entry = FirstLoginEntry
			return nil
		}
	}
	return fmt.Errorf("%s/ holds %d files but no %q: name the script to call on first login %s/%s (the others are installed next to it)",
		rel(r.Dir, DirFirstLogin), len(r.FirstLogin), FirstLoginEntry, DirFirstLogin, FirstLoginEntry)
}

func rel(dir, name string) string { return filepath.Join(dir, filepath.FromSlash(name)) }

func cwd() string {
	d, err := os.Getwd()
	if err != nil {
		return "the current directory"
	}
	return d
}
