package pipeline

import (
	"context"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/shell"
)

// aptEnv makes apt and dpkg never ask: no prompts, keep changed conffiles
// (the sshd_config prompt hung Fabric builds, mp#133), no needrestart dialog.
const aptEnv = "export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a NEEDRESTART_SUSPEND=1 APT_LISTCHANGES_FRONTEND=none UCF_FORCE_CONFFOLD=1; "

const aptGet = "apt-get -y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"

// aptUpgrade runs a non-interactive full-upgrade and installs apt-packages:
// stale base images fail review. A template that upgrades itself skips the
// upgrade (decide.go); apt-packages are still installed then.
type aptUpgrade struct{ nothingToUndo }

func (aptUpgrade) String() string { return "apt update, full-upgrade, install" }
func (aptUpgrade) Declare() Decl  { return Decl{Needs: SSH | OptApt} }
func (aptUpgrade) Run(ctx context.Context, b *Build) error {
	upgrade, why := aptStep(b)
	if !upgrade {
		b.logf("no full-upgrade: %s; installing apt-packages only", why)
	}
	pkgs := make([]string, 0, len(b.Cfg.APTPackages))
	for _, p := range b.Cfg.APTPackages {
		pkgs = append(pkgs, shell.Quote(p))
	}
	// Each branch runs at least one of the two: the step is skipped otherwise.
	upgradeWith := func(cmd string) string {
		if !upgrade {
			return ""
		}
		return "  " + cmd + "\n"
	}
	installWith := func(cmd string) string {
		if len(pkgs) == 0 {
			return ""
		}
		return "  " + cmd + " " + strings.Join(pkgs, " ") + "\n"
	}
	script := aptEnv + "set -e\n" +
		"if command -v apt-get >/dev/null 2>&1; then\n" +
		"  " + aptGet + " update\n" + upgradeWith(aptGet+" full-upgrade") + installWith(aptGet+" install") +
		"elif command -v dnf >/dev/null 2>&1; then\n" + upgradeWith("dnf -y -q upgrade") + installWith("dnf -y -q install") +
		"elif command -v yum >/dev/null 2>&1; then\n" + upgradeWith("yum -y -q update") + installWith("yum -y -q install")
	script += "else echo 'no apt-get, dnf or yum on this server' >&2; exit 1\nfi\n"
	return b.run(ctx, "apt", "sh -c "+shell.Quote(script), 0)
}
