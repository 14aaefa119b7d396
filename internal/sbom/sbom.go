// Package sbom writes the software bill of materials of a built image as CycloneDX 1.6 JSON,
// from the packages imagecheck collects after cleanup (so it lists what the snapshot holds).
package sbom

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/package-url/packageurl-go"

	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// Image is what the SBOM describes.
type Image struct {
	Name       string // snapshot name (build_base: the droplet's name or the application's)
	SnapshotID int    // 0 when there is no snapshot (build_base, or a build that stopped before it)
	AppName    string
	AppVersion string
	OSRelease  map[string]string // /etc/os-release of the image
	Packages   imagecheck.Packages
	Tool       string // mp-image's version
	Time       time.Time
}

// Property names: namespaced as CycloneDX asks for properties it does not define.
const (
	PropSnapshotID    = "mp-image:snapshot:id"
	PropSourcePackage = "mp-image:package:source"
	PropSourceVersion = "mp-image:package:source-version"
)

// BOM builds the CycloneDX document.
func BOM(img Image) *cdx.BOM {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + newUUID()
	distro := img.OSRelease["ID"]
	distroVersion := img.OSRelease["VERSION_ID"]
	name := img.Name
	if name == "" {
		name = img.AppName
	}
	if name == "" {
		name = "droplet image"
	}
	top := cdx.Component{BOMRef: "image", Type: cdx.ComponentTypeOS, Name: name, Version: img.AppVersion,
		Description: "DigitalOcean droplet image built by mp-image"}
	if img.SnapshotID != 0 {
		top.Properties = &[]cdx.Property{{Name: PropSnapshotID, Value: strconv.Itoa(img.SnapshotID)}}
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: img.Time.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: "mp-image",
			Version: img.Tool, ExternalReferences: &[]cdx.ExternalReference{{Type: cdx.ERTypeVCS, URL: "https://github.com/mp-image-action/mp-image-action"}}}}},
		Component: &top,
	}
	comps := []cdx.Component{}
	refs := []string{}
	if distro != "" {
		osc := cdx.Component{BOMRef: "os:" + distro + "@" + distroVersion, Type: cdx.ComponentTypeOS, Name: distro,
			Version: distroVersion, Description: img.OSRelease["PRETTY_NAME"]}
		comps = append(comps, osc)
		refs = append(refs, osc.BOMRef)
	}
	seen := map[string]bool{}
	for _, p := range img.Packages.List {
		purl := PURL(img.Packages.Manager, distro, distroVersion, p)
		if seen[purl] {
			continue // a package listed twice by the manager is one component
		}
		seen[purl] = true
		c := cdx.Component{BOMRef: purl, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version, PackageURL: purl}
		var props []cdx.Property
		if p.Source != "" {
			props = append(props, cdx.Property{Name: PropSourcePackage, Value: p.Source})
		}
		if p.SourceVersion != "" {
			props = append(props, cdx.Property{Name: PropSourceVersion, Value: p.SourceVersion})
		}
		if len(props) > 0 {
			c.Properties = &props
		}
		comps = append(comps, c)
		refs = append(refs, purl)
	}
	bom.Components = &comps
	bom.Dependencies = &[]cdx.Dependency{{Ref: "image", Dependencies: &refs}}
	return bom
}

// PURL is the package URL of p: pkg:deb/debian/nginx@1.22.1-9?arch=amd64&distro=debian-12.
func PURL(manager, distro, distroVersion string, p imagecheck.Package) string {
	typ := packageurl.TypeDebian
	version := p.Version
	var q packageurl.Qualifiers
	if p.Arch != "" {
		q = append(q, packageurl.Qualifier{Key: "arch", Value: p.Arch})
	}
	if manager == "rpm" {
		typ = packageurl.TypeRPM
		// The rpm purl carries the epoch as a qualifier, not in the version.
		if e, v, ok := strings.Cut(version, ":"); ok {
			version = v
			q = append(q, packageurl.Qualifier{Key: "epoch", Value: e})
		}
	}
	if distro != "" {
		q = append(q, packageurl.Qualifier{Key: "distro", Value: strings.Trim(distro+"-"+distroVersion, "-")})
	}
	return packageurl.NewPackageURL(typ, distro, p.Name, version, q, "").ToString()
}

// Encode writes img as CycloneDX 1.6 JSON.
func Encode(w io.Writer, img Image) error {
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true)
	if err := enc.EncodeVersion(BOM(img), cdx.SpecVersion1_6); err != nil {
		return fmt.Errorf("SBOM: encode CycloneDX: %w", err)
	}
	return nil
}

// Write writes img to path atomically and returns the file's sha256 (hex).
func Write(path string, img Image) (string, error) {
	var buf bytes.Buffer
	if err := Encode(&buf, img); err != nil {
		return "", err
	}
	if err := report.WriteFileAtomic(path, buf.Bytes()); err != nil {
		return "", fmt.Errorf("SBOM: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

// Read decodes a CycloneDX JSON file.
func Read(path string) (*cdx.BOM, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("SBOM: %w", err)
	}
	defer f.Close()
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(f, cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, fmt.Errorf("SBOM %s: %w", path, err)
	}
	return &bom, nil
}

// newUUID is a random (version 4) UUID, as CycloneDX serial numbers are.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
