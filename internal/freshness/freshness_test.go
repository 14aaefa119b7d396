package freshness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewer(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"1.1", "1.0", true}, {"1.10", "1.9", true}, {"1.9", "1.10", false}, {"1.0", "1.0", false},
		{"v2.0.1", "2.0.0", true}, {"1.0", "1.0~rc1", true}, {"1.0~rc1", "1.0", false},
		{"1.0a", "1.0", true}, {"2026.01.02", "2025.12.31", true}, {"1.0.0", "1.0", true}, {"0.9", "1.0", false},
	} {
		if got := Newer(tc.a, tc.b); got != tc.want {
			t.Errorf("Newer(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func script(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "freshness"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, Script), []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLatestVersion(t *testing.T) {
	ctx := context.Background()
	dir := script(t, "#!/bin/sh\necho checking >&2\necho ' 2.4.1 '\n\n", 0o755)
	if ok, err := HasLatestVersion(dir); !ok || err != nil {
		t.Fatalf("HasLatestVersion = %v, %v", ok, err)
	}
	if v, err := LatestVersion(ctx, dir, nil); err != nil || v != "2.4.1" {
		t.Errorf("LatestVersion = %q, %v", v, err)
	}
	dir = script(t, "#!/bin/sh\necho 'rate limited by upstream' >&2\nexit 3\n", 0o755)
	if _, err := LatestVersion(ctx, dir, nil); err == nil || !strings.Contains(err.Error(), "rate limited by upstream") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("failing script: %v", err)
	}
	dir = script(t, "#!/bin/sh\n", 0o755)
	if _, err := LatestVersion(ctx, dir, nil); err == nil || !strings.Contains(err.Error(), "no version") {
		t.Errorf("silent script: %v", err)
	}
	dir = script(t, "#!/bin/sh\necho 1\n", 0o644)
	if _, err := HasLatestVersion(dir); err == nil || !strings.Contains(err.Error(), "chmod +x") {
		t.Errorf("not executable: %v", err)
	}
	if ok, err := HasLatestVersion(t.TempDir()); ok || err != nil {
		t.Errorf("no script: %v %v", ok, err)
	}
}
