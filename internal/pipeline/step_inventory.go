package pipeline

import (
	"context"
	"fmt"

	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/sbom"
	"github.com/mp-image-action/mp-image-action/internal/vendorapi"
)

// inventory reads the installed packages (from the validation round trip,
// after cleanup, so they are the snapshot's) and fills the versions
// submit-software leaves out: a named package the image lacks stops the
// build here, before the snapshot. The SBOM file itself is written with the
// manifest, once the snapshot's ID is known.
type inventory struct{ nothingToUndo }

func (inventory) String() string { return "installed packages (SBOM, submit-software versions)" }
func (inventory) Declare() Decl  { return Decl{Needs: OptInventory | SSH} }
func (inventory) Run(ctx context.Context, b *Build) error {
	sw, err := vendorapi.ParseSoftware(b.Cfg.SubmitSoftware)
	if err != nil {
		return err
	}
	if b.Facts == nil {
		// Validation did not run (skip-cleanup): read the packages now.
		f, err := imagecheck.Collect(ctx, b.SSH, imagecheck.Options{BuildKey: buildKey(b), Mode: b.Cfg.Mode, SkipAptUpdate: true})
		if err != nil {
			return fmt.Errorf("listing installed packages: %w", err)
		}
		b.Facts = f
	}
	pk := b.Facts.Packages
	if pk.Manager == "" && b.Cfg.SBOM != "" {
		b.Out.Annotate(warning("SBOM", "neither dpkg nor rpm was found on the droplet: the SBOM lists no packages"))
	}
	if err := sbom.FillVersions(sw, pk); err != nil {
		return err
	}
	b.Software = sw
	b.logf("%d installed packages (%s)", len(pk.List), pk.Manager)
	return nil
}
