// Command gen rewrites the generated parts of action.yml, README.md and docs/inputs.md from the option table.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/config"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	if err := os.MkdirAll(filepath.Join(root, "docs"), 0o755); err != nil {
		return fmt.Errorf("create docs/: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "docs", "inputs.md"), []byte(config.InputsDoc()), 0o644); err != nil {
		return fmt.Errorf("write docs/inputs.md: %w", err)
	}
	if err := rewrite(filepath.Join(root, "README.md"), config.ReadmeStart, config.ReadmeEnd, config.ReadmeBlock(), true); err != nil {
		return err
	}
	return rewrite(filepath.Join(root, "action.yml"), config.ActionStart, config.ActionEnd, config.ActionInputsYAML(), false)
}

// rewrite replaces one marked block of path; create says whether a missing file may be created.
func rewrite(path, start, end, block string, create bool) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		old = nil
	} else if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if !create && !containsBoth(string(old), start, end) {
		return fmt.Errorf("%s has no %q ... %q markers under inputs: add them by hand, then rerun", path, start, end)
	}
	doc, err := config.ReplaceBlock(string(old), start, end, block)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func containsBoth(s, a, b string) bool {
	return strings.Contains(s, a) && strings.Contains(s, b)
}
