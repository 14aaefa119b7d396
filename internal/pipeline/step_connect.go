package pipeline

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/cleanup"
	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/remote"
)

// MarkerPath records that this tool provisioned a server: a final image
// must come from a server provisioned only once. The cleanup moves it to
// cleanup.RunMarkerPath (memory), so no snapshot holds it.
const MarkerPath = cleanup.MarkerPath

// connect opens SSH with the pinned host key (or, for --host, the given key)
// and waits for cloud-init and apt/dpkg to be done.
type connect struct{}

func (connect) String() string { return "connect over SSH" }
func (connect) Declare() Decl  { return Decl{Needs: Address, Makes: SSH} }
func (connect) Run(ctx context.Context, b *Build) error {
	ctx, cancel := withTimeout(ctx, b.Cfg.Timeouts.SSH)
	defer cancel()
	cfg := remote.Config{User: sshUser(b), Logf: b.Logf, Timing: b.Timing, Dial: b.dial}
	if b.Cfg.Host == "" {
		cfg.Addr = net.JoinHostPort(b.IP, "22")
		cfg.Signer = b.Key.Signer
		cfg.HostKey = b.HostKey.Public
	} else {
		signer, err := remote.LoadPrivateKey(b.Cfg.SSHKey)
		if err != nil {
			return err
		}
		cfg.Addr = hostPort(b.Cfg.Host)
		cfg.Signer = signer
		cfg.InsecureIgnoreHostKey = true
		// A server already running may have `ufw limit ssh` (every image
		// from an earlier build does): attempts spaced for it, so the
		// build never locks itself out. It is up: no boot to notice early.
		cfg.DialInterval = remote.UFWLimitInterval
		b.IP = strings.Split(b.Cfg.Host, ":")[0]
		b.Out.Annotate(warning("host key", "the host key of "+b.Cfg.Host+" is not pinned for --host builds; run them only over a network you trust"))
	}
	c, err := remote.DialRetry(ctx, cfg)
	if err != nil {
		return err
	}
	b.SSH = c
	if b.Cfg.Host != "" {
		if err := checkMarker(ctx, b); err != nil {
			return err
		}
	}
	return waitBoot(ctx, b)
}
func (connect) Cleanup(ctx context.Context, b *Build) error {
	if b.SSH != nil {
		b.SSH.Close()
		b.SSH = nil
	}
	return nil
}

func hostPort(h string) string {
	if _, _, err := net.SplitHostPort(h); err == nil {
		return h
	}
	return net.JoinHostPort(h, "22")
}

// waitBoot waits for cloud-init to finish (exit 2 is "done with recoverable
// errors" on Ubuntu 24.04, mp#186) and for background apt to let go of its locks.
func waitBoot(ctx context.Context, b *Build) error {
	out, _, code, err := b.SSH.Output(ctx, "command -v cloud-init >/dev/null 2>&1 || exit 127; cloud-init status --wait >/dev/null 2>&1; echo $?")
	if err != nil && code != 127 {
		return fmt.Errorf("waiting for cloud-init: %w", err)
	}
	switch st := strings.TrimSpace(string(out)); {
	case code == 127:
		b.Out.Annotate(warning("cloud-init", "cloud-init is not installed: the Marketplace requires it"))
	case st == "2":
		b.Out.Annotate(warning("cloud-init", "cloud-init finished with recoverable errors (exit 2); see /var/log/cloud-init.log on the droplet"))
	case st != "0":
		return fmt.Errorf("cloud-init failed (status exit %s): see /var/log/cloud-init-output.log on the droplet", st)
	}
	return nil
}

func checkMarker(ctx context.Context, b *Build) error {
	// On disk after provisioning; in /run after a build_image's cleanup, until a reboot.
	out, _, _, err := b.SSH.Output(ctx, "cat "+MarkerPath+" "+cleanup.RunMarkerPath+" 2>/dev/null || true")
	if err != nil {
		return err
	}
	if prev := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]); prev != "" && b.Cfg.Mode == config.ModeBuildImage && !b.Cfg.Force {
		return fmt.Errorf("%s was already provisioned by mp-image (%s): a final image must come from a server provisioned once; use a fresh droplet, or --force", b.Cfg.Host, prev)
	}
	return nil
}
