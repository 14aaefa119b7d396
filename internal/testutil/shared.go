// Package testutil holds what several packages' tests need alike.
package testutil

import (
	"errors"
	"os"
	"path/filepath"
)

// SharedDir is the project's shared/ folder: $MP_SHARED_DIR, or ../shared
// beside the repository root (the folder holding go.mod above the working
// directory). It may not exist: callers skip with a clear message then.
func SharedDir() (string, error) {
	if d := os.Getenv("MP_SHARED_DIR"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory")
		}
		dir = parent
	}
}
