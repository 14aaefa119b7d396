package pipeline

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/shell"
)

// appInfo writes /var/lib/digitalocean/application.info, the Marketplace convention.
type appInfo struct{ nothingToUndo }

func (appInfo) String() string { return "write application.info" }
func (appInfo) Declare() Decl  { return Decl{Needs: SSH} }
func (appInfo) Run(ctx context.Context, b *Build) error {
	script := `set -e
. /etc/os-release
arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
mkdir -p /var/lib/digitalocean
cat > /var/lib/digitalocean/application.info <<EOF
application_name="$APP_NAME"
build_date="$(date -u +%Y-%m-%d)"
distro="$ID"
distro_release="$VERSION_ID"
distro_codename="${VERSION_CODENAME:-}"
distro_arch="$arch"
application_version="$APP_VERSION"
EOF
`
	cmd := "APP_NAME=" + shell.Quote(sanitizeInfo(appName(b))) + " APP_VERSION=" + shell.Quote(sanitizeInfo(appVersion(b))) + " sh -c " + shell.Quote(script)
	return b.run(ctx, "application.info", cmd, time.Minute)
}

// appName is application.info's application_name: the option, else the recipe's name.
func appName(b *Build) string {
	name := b.Cfg.ApplicationName
	if name == "" && b.Cfg.Dir != "" {
		name = filepath.Base(filepath.Clean(b.Cfg.Dir))
	}
	if name == "" && b.Cfg.PackerTemplate != "" {
		name = strings.TrimSuffix(filepath.Base(b.Cfg.PackerTemplate), filepath.Ext(b.Cfg.PackerTemplate))
	}
	return name
}

// appVersion is application.info's application_version.
func appVersion(b *Build) string {
	if v := b.Cfg.ApplicationVersion; v != "" {
		return v
	}
	// Reviewers expect a version; without one, the build date stands in.
	return b.Started.UTC().Format("2006.01.02")
}

// sanitizeInfo keeps a value inside its double quotes in application.info.
func sanitizeInfo(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r == '$' || r == '`' || r == '\n' {
			return -1
		}
		return r
	}, s)
}
