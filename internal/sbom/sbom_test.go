package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/sbom/schematest"
)

func lemp() Image {
	return Image{
		Name: "lemp-2026-11-30-abcd1234", SnapshotID: 4242, AppName: "LEMP", AppVersion: "1.0",
		OSRelease: map[string]string{"ID": "debian", "VERSION_ID": "12", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"},
		Packages: imagecheck.Packages{Manager: "dpkg", List: []imagecheck.Package{
			{Name: "nginx", Version: "1.22.1-9+deb12u2", Arch: "amd64", Source: "nginx", SourceVersion: "1.22.1-9+deb12u2"},
			{Name: "libc6", Version: "2.36-9+deb12u10", Arch: "amd64", Source: "glibc", SourceVersion: "2.36-9+deb12u10"},
			{Name: "tzdata", Version: "2025b-0+deb12u1", Arch: "all", Source: "tzdata", SourceVersion: "2025b-0+deb12u1"},
			{Name: "libcap2", Version: "1:2.66-4", Arch: "amd64", Source: "libcap2", SourceVersion: "1:2.66-4"},
		}},
		Tool: "v1.2.3", Time: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
	}
}

func TestWriteValidatesAndReadsBack(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out", "sbom.cdx.json")
	sum, err := Write(p, lemp())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(data); hex.EncodeToString(s[:]) != sum {
		t.Errorf("Write returned sha256 %s, the file's is %x", sum, s)
	}
	if err := schematest.Validate(schematest.CycloneDX16, data); err != nil {
		t.Fatalf("the SBOM does not validate against CycloneDX 1.6: %v\n%s", err, data)
	}
	bom, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != cdx.SpecVersion1_6 || bom.BOMFormat != "CycloneDX" {
		t.Errorf("spec %v format %q", bom.SpecVersion, bom.BOMFormat)
	}
	top := bom.Metadata.Component
	if top.Name != "lemp-2026-11-30-abcd1234" || top.Version != "1.0" || (*top.Properties)[0] != (cdx.Property{Name: PropSnapshotID, Value: "4242"}) {
		t.Errorf("metadata component %+v", top)
	}
	got := map[string]cdx.Component{}
	for _, c := range *bom.Components {
		got[c.Name] = c
	}
	for name, want := range map[string]struct{ version, purl, source string }{
		"nginx":   {"1.22.1-9+deb12u2", "pkg:deb/debian/nginx@1.22.1-9%2Bdeb12u2?arch=amd64&distro=debian-12", "nginx"},
		"libc6":   {"2.36-9+deb12u10", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=debian-12", "glibc"},
		"libcap2": {"1:2.66-4", "pkg:deb/debian/libcap2@1:2.66-4?arch=amd64&distro=debian-12", "libcap2"},
	} {
		c, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if c.Version != want.version || c.PackageURL != want.purl || c.BOMRef != want.purl {
			t.Errorf("%s: version %q purl %q ref %q; want %q %q", name, c.Version, c.PackageURL, c.BOMRef, want.version, want.purl)
		}
		if c.Properties == nil || (*c.Properties)[0] != (cdx.Property{Name: PropSourcePackage, Value: want.source}) {
			t.Errorf("%s: properties %+v, want source %s", name, c.Properties, want.source)
		}
	}
	if d, ok := got["debian"]; !ok || d.Type != cdx.ComponentTypeOS || d.Version != "12" {
		t.Errorf("distro component %+v", d)
	}
	if deps := (*bom.Dependencies)[0]; deps.Ref != "image" || len(*deps.Dependencies) != 5 {
		t.Errorf("dependencies %+v", deps)
	}
}

func TestRPMPurl(t *testing.T) {
	got := PURL("rpm", "rocky", "9.4", imagecheck.Package{Name: "openssl-libs", Version: "1:3.0.7-27.el9", Arch: "x86_64"})
	if want := "pkg:rpm/rocky/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rocky-9.4&epoch=1"; got != want {
		t.Errorf("PURL = %s, want %s", got, want)
	}
}

// An image whose package manager is unknown still gets a valid, empty SBOM.
func TestEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, Image{Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := schematest.Validate(schematest.CycloneDX16, buf.Bytes()); err != nil {
		t.Fatalf("%v\n%s", err, buf.Bytes())
	}
}
