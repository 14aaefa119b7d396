package pipeline

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// A secret env value reaches the script's environment but no command line
// (the in-process server records every exec request, as ps on a droplet
// would show them), and the file that carried it is gone when the script runs.
func TestSecretEnvNeverOnACommandLine(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, c, _ := dialTestServer(ctx, t, dir)
	const secret = "s3cret-value-'quoted' $HOME"
	b := &Build{Cfg: &config.Config{SecretEnvValues: map[string]string{"APP_SECRET": secret}}, SSH: c, RunID: "r1",
		Logf: t.Logf, Out: report.NewConsole(io.Discard, false, nil)}
	p := filepath.Join(dir, "mp-image-r1-000.sh")
	script := "#!/bin/sh\nprintf %s \"$APP_SECRET\" > got\nls " + dir + " > files\n"
	if err := c.WriteFile(ctx, p, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd, err := scriptCommand(ctx, b, c, recipe.Action{Name: "x"}, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.run(ctx, "x", cmd, 0); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "got"))
	if string(got) != secret {
		t.Errorf("the script saw APP_SECRET=%q, want %q", got, secret)
	}
	files, _ := os.ReadFile(filepath.Join(dir, "files"))
	if strings.Contains(string(files), ".env") {
		t.Errorf("the env file still existed while the script ran: %s", files)
	}
	for _, cmd := range s.Commands() {
		if strings.Contains(cmd, "s3cret-value") {
			t.Errorf("the secret is on a command line: %q", cmd)
		}
	}
}

// A token of "x" is no secret: it is not replaced everywhere (issue 14: plan
// turned ubuntu-24-04-x64 into ubuntu-24-04-<sensitive>64), and the build
// warns instead.
func TestShortSecretWarnsInsteadOfMangling(t *testing.T) {
	var out testutil.SyncBuffer
	red := report.Redacting(report.NewConsole(&out, false, nil), report.NewSecrets())
	b := &Build{Cfg: &config.Config{}, Out: red, secrets: red.Secrets}
	b.addSecret("the API token", "x")
	b.addSecret("the API token", "dop_v1_0123456789abcdef")
	b.Out.Log("image ubuntu-24-04-x64 token dop_v1_0123456789abcdef")
	got := out.String()
	if !strings.Contains(got, "ubuntu-24-04-x64") || strings.Contains(got, "dop_v1_0123456789abcdef") {
		t.Errorf("output %q: want the slug intact and the real token hidden", got)
	}
	if !strings.Contains(got, "too short to be a real secret") {
		t.Errorf("no warning about the one-character token:\n%s", got)
	}
}
