// Package testutil holds what several packages' tests need alike.
package testutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// SharedDir is the project's shared/ folder: $MP_SHARED_DIR, or ../shared
// beside the repository root (the folder holding go.mod above the working
// directory). It may not exist: callers skip with a clear message then.
func SharedDir() (string, error) {
	if d := os.Getenv("MP_SHARED_DIR"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(root), "shared"), nil
}

// RepoRoot is the folder holding go.mod above the working directory (a
// test's working directory is its package's folder).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// WriteTree makes a temporary folder holding name -> content (every file
// 0755: scripts must run, and the rest does not mind).
func WriteTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
