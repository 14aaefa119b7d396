package testutil

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Provisioners reads a Packer JSON template's provisioners.
func Provisioners(t testing.TB, file string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Provisioners []map[string]any `json:"provisioners"`
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return tmpl.Provisioners
}

// StubTemplateFiles writes a stub for every script and source the
// provisioners name, under base: the shared templates are stored without
// the repository they run in.
func StubTemplateFiles(t testing.TB, base string, provs []map[string]any) {
	t.Helper()
	paths := func(v any) []string {
		switch x := v.(type) {
		case string:
			return []string{x}
		case []any:
			var out []string
			for _, e := range x {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
			return out
		}
		return nil
	}
	for _, p := range provs {
		for _, k := range []string{"script", "scripts", "source", "sources"} {
			for _, rel := range paths(p[k]) {
				local := filepath.Join(base, rel)
				if strings.HasSuffix(rel, "/") {
					local = filepath.Join(local, "stub")
				}
				if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(local, []byte("#!/bin/sh\ntrue\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
