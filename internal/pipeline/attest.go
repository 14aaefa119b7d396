package pipeline

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mp-image-action/mp-image-action/internal/provenance"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/sbom"
)

// writeSBOM writes the packages the validation round trip read (the
// snapshot's, after cleanup) as CycloneDX, naming the snapshot when there is one.
func writeSBOM(b *Build) error {
	if b.Cfg.SBOM == "" || b.Facts == nil {
		return nil
	}
	img := sbom.Image{AppName: appName(b), AppVersion: appVersion(b), OSRelease: b.Facts.OSRelease,
		Packages: b.Facts.Packages, Tool: Version, Time: b.Started}
	if b.Snapshot != nil {
		img.Name, img.SnapshotID = b.Snapshot.Name, b.Snapshot.ID
	}
	sum, err := sbom.Write(b.Cfg.SBOM, img)
	if err != nil {
		return fmt.Errorf("writing the SBOM: %w", err)
	}
	b.SBOMSHA256 = sum
	b.logf("SBOM: %d packages written to %s (sha256 %s)", len(b.Facts.Packages.List), b.Cfg.SBOM, sum)
	return nil
}

// writeProvenance states, unsigned, how the manifest and the SBOM were made.
func writeProvenance(b *Build, m *report.Manifest) error {
	if b.Cfg.Provenance == "" {
		return nil
	}
	in := provenance.Input{
		Subjects: []string{b.Cfg.Manifest}, RecipeDir: b.Cfg.Dir, PackerTemplate: b.Cfg.PackerTemplate,
		Mode: b.Cfg.Mode, Image: b.Cfg.Image, Region: b.Cfg.Region, Size: b.Cfg.Size, APIURL: b.Cfg.APIURL,
		ToolVersion: Version, ToolSHA256: provenance.ExecutableSHA256(), RunID: b.RunID,
		Started: m.Started, Finished: m.Finished, Getenv: os.Getenv,
	}
	if b.SBOMSHA256 != "" {
		in.Subjects = append(in.Subjects, b.Cfg.SBOM)
	}
	if b.BaseImage != nil {
		in.ImageID = b.BaseImage.ID
	}
	if b.Snapshot != nil {
		in.SnapshotID, in.SnapshotName, in.SnapshotRegions = b.Snapshot.ID, b.Snapshot.Name, b.Regions
	}
	var err error
	in.RecipeDigest, err = recipeDigest(b)
	if err != nil {
		return fmt.Errorf("writing the provenance: %w", err)
	}
	if err := provenance.Write(b.Cfg.Provenance, in); err != nil {
		return fmt.Errorf("writing the provenance: %w", err)
	}
	b.provenanceWritten = true
	b.logf("provenance (unsigned in-toto SLSA v1) written to %s", b.Cfg.Provenance)
	return nil
}

// recipeDigest digests the recipe folder, or the Packer template with its
// var files and everything its provisioners upload or run.
func recipeDigest(b *Build) (map[string]string, error) {
	if b.Cfg.PackerTemplate == "" {
		return provenance.TreeDigest(b.Cfg.Dir)
	}
	files := map[string]string{filepath.ToSlash(b.Cfg.PackerTemplate): b.Cfg.PackerTemplate}
	for _, f := range b.Cfg.PackerVarFiles {
		files[filepath.ToSlash(f)] = f
	}
	if b.Plan != nil {
		for _, a := range append(append([]recipe.Action{}, b.Plan.Actions...), b.Plan.Verify...) {
			for _, p := range []string{a.LocalPath, a.ScriptPath} {
				if p != "" {
					files[filepath.ToSlash(p)] = p
				}
			}
		}
	}
	return provenance.FilesDigest(files)
}
