package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// logBootTest logs the boot test's lines, to see what it did.
func logBootTest(t *testing.T, all string) {
	for _, l := range strings.Split(all, "\n") {
		if strings.Contains(l, "boot-test") || strings.Contains(l, "boot test") || strings.Contains(l, "[verify/") {
			t.Log(l)
		}
	}
}

// liveSnapshots is the set of snapshot IDs the emulator holds now.
func liveSnapshots() map[string]bool {
	m := map[string]bool{}
	for _, r := range env.srv.Ledger().Live(localcloud.KindSnapshot) {
		m[r.ID] = true
	}
	return m
}

// TestBootTestFailingPerInstance: a recipe whose per-instance script fails
// on first boot builds a snapshot, but the boot test fails the build with
// that script's output; the snapshot is kept; the boot droplet and keys go.
func TestBootTestFailingPerInstance(t *testing.T) {
	need(t)
	dir := t.TempDir()
	fw, err := os.ReadFile(filepath.Join(env.root, "examples/hello-first-login/scripts/10-firewall.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for p, body := range map[string]string{
		"scripts/10-firewall.sh":  string(fw),
		"per-instance/001_onboot": "#!/bin/sh\necho boom-marker-$((6*7))\nexit 1\n",
	} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := liveSnapshots()
	r := runBin(t, nil, append([]string{"build", "--dir", dir, "--application-version", "1.0"}, apiArgs()...)...)
	var made []string
	for id := range liveSnapshots() {
		if !before[id] {
			made = append(made, id)
		}
	}
	for _, id := range made {
		defer env.godo.Images.Delete(context.Background(), atoi(id))
	}
	if r.code == 0 {
		t.Fatalf("build exited 0; the boot test should fail it")
	}
	all := r.stdout + r.stderr
	logBootTest(t, all)
	// The script's output, as it ran on the boot droplet (the source text
	// says "$((6*7))": only running it prints 42).
	found := false
	for _, l := range strings.Split(all, "\n") {
		if strings.Contains(l, "[boot-test cloud-init-output]") && strings.Contains(l, "boom-marker-42") {
			found = true
		}
	}
	if !found {
		t.Errorf("the output lacks the per-instance script's output from the boot droplet")
	}
	if !strings.Contains(all, "boot test (review simulation)") || !strings.Contains(all, "first boot of the snapshot failed") {
		t.Errorf("the failure is not reported as a boot-test failure")
	}
	if len(made) != 1 {
		t.Fatalf("want the snapshot kept (1 new live snapshot), got %v", made)
	}
	if !strings.Contains(all, "snapshot "+made[0]) {
		t.Errorf("the kept snapshot %s is not reported", made[0])
	}
	requireNothingLeft(t)
}
