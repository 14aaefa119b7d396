package sbom

import (
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/vendorapi"
)

func TestFillVersions(t *testing.T) {
	pkgs := lemp().Packages
	pkgs.List = append(pkgs.List, imagecheck.Package{Name: "php8.2-fpm", Version: "8.2.28-1~deb12u1", Arch: "amd64"})
	sw, err := vendorapi.ParseSoftware([]string{"nginx, PHP;package=php8.2-fpm, WordPress=6.5, libcap2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := FillVersions(sw, pkgs); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range sw {
		got[s.Name] = s.Version
	}
	want := map[string]string{"nginx": "1.22.1", "PHP": "8.2.28", "WordPress": "6.5", "libcap2": "2.66"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	sw, _ = vendorapi.ParseSoftware([]string{"nginx, redis-server, Ghost"})
	err = FillVersions(sw, pkgs)
	if err == nil || !strings.Contains(err.Error(), `"redis-server" (package redis-server), "Ghost" (package Ghost) not installed`) {
		t.Errorf("missing packages: err = %v", err)
	}
}
