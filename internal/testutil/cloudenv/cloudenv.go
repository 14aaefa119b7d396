// Package cloudenv sets up what the end-to-end tests and the benchmarks run
// against: the mp-image binary built from the repository, a systemd-nspawn
// machine backend with its base image, and a local cloud on that backend.
// (It is not in testutil: the local cloud's own tests import testutil.)
package cloudenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/localcloud/nspawn"
)

// Env is one backend, one emulator on it, one built binary.
type Env struct {
	Root    string // repository root
	Tmp     string // removed by Close
	Bin     string // the built mp-image
	Backend *nspawn.Backend
	Srv     *localcloud.Server
	Token   string
}

// Unavailable explains why machines cannot run here (nil when they can):
// callers skip, or fail under MP_REQUIRE_E2E=1.
func Unavailable() error { return nspawn.Available() }

// Build compiles ./cmd/mp-image of root into out with extra environment
// (e.g. CGO_ENABLED=0) and go build flags.
func Build(root, out string, extraEnv []string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, "./cmd/mp-image")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building mp-image: %w", err)
	}
	return nil
}

// Start builds the binary, starts the backend (base image debian-12-x64
// ready) and a local cloud with o (Machines filled in, and Token when empty).
// verbose logs the backend's progress to stderr.
func Start(ctx context.Context, root string, o localcloud.Options, verbose bool) (*Env, error) {
	tmp, err := os.MkdirTemp("", "mp-image-env-")
	if err != nil {
		return nil, err
	}
	e := &Env{Root: root, Tmp: tmp, Bin: filepath.Join(tmp, "mp-image")}
	if err := Build(root, e.Bin, nil); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	e.Backend, err = nspawn.New(ctx, nspawn.Options{Logf: func(f string, a ...any) {
		if verbose {
			fmt.Fprintf(os.Stderr, "nspawn: "+f+"\n", a...)
		}
	}})
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("nspawn backend: %w", err)
	}
	if err := e.Backend.EnsureBaseImage(ctx, "debian-12-x64"); err != nil {
		e.Backend.Close(ctx)
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("base image: %w", err)
	}
	if o.Token == "" {
		o.Token = fmt.Sprintf("env-token-%d", time.Now().UnixNano())
	}
	e.Token, o.Machines = o.Token, e.Backend
	e.Srv, err = localcloud.Start(ctx, o)
	if err != nil {
		e.Backend.Close(ctx)
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("local cloud: %w", err)
	}
	return e, nil
}

// Close deletes every droplet and snapshot, closes the backend (the local
// cloud's Close does) and removes the temporary directory.
func (e *Env) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := e.Srv.Close(ctx)
	os.RemoveAll(e.Tmp)
	return err
}
