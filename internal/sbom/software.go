package sbom

import (
	"fmt"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/vendorapi"
)

// FillVersions gives every software entry without a version the upstream
// version of its installed package (the entry's package=, else its name).
// A package the image does not have is an error naming every such entry.
func FillVersions(sw []vendorapi.Software, pkgs imagecheck.Packages) error {
	var missing []string
	for i := range sw {
		if sw[i].Version != "" {
			continue
		}
		name := sw[i].Package
		if name == "" {
			name = sw[i].Name
		}
		p, ok := pkgs.Find(name)
		if !ok {
			missing = append(missing, fmt.Sprintf("%q (package %s)", sw[i].Name, name))
			continue
		}
		sw[i].Version = UpstreamVersion(p.Version)
	}
	if len(missing) > 0 {
		return fmt.Errorf("submit-software: %s not installed in the image (%d packages are): give the version (name=1.2.3), "+
			"or the package it comes from (name;package=pkg), or install it", strings.Join(missing, ", "), len(pkgs.List))
	}
	return nil
}

// UpstreamVersion drops the epoch and the distribution's revision from a
// package version, as listings show it: 1:1.22.1-9+deb12u2 -> 1.22.1.
func UpstreamVersion(v string) string {
	if _, rest, ok := strings.Cut(v, ":"); ok {
		v = rest
	}
	if i := strings.LastIndex(v, "-"); i > 0 {
		v = v[:i]
	}
	return v
}
