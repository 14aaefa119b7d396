package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// keepOrDelete ends a build_base: keep-droplet saves the key 0600 and prints
// the ssh command; otherwise the droplet is deleted.
type keepOrDelete struct{ nothingToUndo }

func (keepOrDelete) String() string { return "keep or delete the droplet" }
func (keepOrDelete) Declare() Decl {
	return Decl{Needs: API | NewDroplet | Keys | Droplet, Ends: Droplet | SSH}
}
func (keepOrDelete) Run(ctx context.Context, b *Build) error {
	if !b.Cfg.KeepDroplet {
		if b.SSH != nil {
			b.SSH.Close()
			b.SSH = nil
		}
		if err := b.Cloud.DeleteDroplet(ctx, b.Droplet.ID); err != nil {
			return err
		}
		b.Droplet, b.dropletGone = nil, true
		return nil
	}
	if err := keep(ctx, b); err != nil {
		return err
	}
	path, shown, err := keptKeyPath(b.RunID)
	if err != nil {
		return err
	}
	if err := b.Key.WritePrivateKey(path); err != nil {
		return err
	}
	b.KeyPath = shown
	// A note, so it stays on a terminal's screen with the step's result.
	b.note(fmt.Sprintf("droplet %d kept at %s: ssh -i %s %s@%s (private key saved 0600; delete the droplet when done)", b.Droplet.ID, b.IP, shown, sshUser(b), b.IP))
	return nil
}

// keptKeyPath is where keep-droplet saves the private key, and the path
// shown and set as the ssh-key-path output. In a GitHub Actions job that is
// under the workspace, relative to it: a Docker action's RUNNER_TEMP is not
// mounted on runners before v2.329.0 (actions/runner#1984), and the
// workspace is where the next step, on the host or in a container, starts.
func keptKeyPath(runID string) (path, shown string, err error) {
	name := "mp-image-" + runID + ".key"
	if ws := os.Getenv("GITHUB_WORKSPACE"); ws != "" && os.Getenv("GITHUB_ACTIONS") == "true" {
		dir := filepath.Join(ws, ".mp-image")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", "", fmt.Errorf("save private key: %w", err)
		}
		return filepath.Join(dir, name), filepath.Join(".mp-image", name), nil
	}
	dir := os.Getenv("RUNNER_TEMP")
	if dir == "" {
		dir = os.TempDir()
	}
	path = filepath.Join(dir, name)
	return path, path, nil
}
