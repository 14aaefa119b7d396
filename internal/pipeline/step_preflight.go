package pipeline

import (
	"context"
	"fmt"

	"github.com/mp-image-action/mp-image-action/internal/config"
)

// preflight checks the token, and for a new droplet its region, size and
// image, before anything is created.
type preflight struct{ nothingToUndo }

func (preflight) String() string { return "check token, region, size and image" }
func (preflight) Declare() Decl  { return Decl{Needs: API} }
func (preflight) Run(ctx context.Context, b *Build) error {
	if _, err := b.Cloud.CheckAccount(ctx); err != nil {
		return err
	}
	if b.Cfg.Host != "" {
		return nil
	}
	img, size, err := b.Cloud.CheckPlacement(ctx, b.Cfg.Region, b.Cfg.Size, b.Cfg.Image, b.Cfg.SnapshotRegions)
	if err != nil {
		return err
	}
	b.MinDisk = img.MinDiskSize
	b.BaseImage = img
	if size.Disk > smallestDisk && b.Cfg.Mode == config.ModeBuildImage {
		b.Out.Annotate(warning("size", fmt.Sprintf("size %s has a %d GB disk: the snapshot will only run on plans with at least %d GB; use s-1vcpu-1gb (25 GB) or s-1vcpu-512mb-10gb so every plan can use the image", b.Cfg.Size, size.Disk, size.Disk)))
	}
	return nil
}

// smallestDisk is the disk of s-1vcpu-1gb: images built on larger disks
// cannot be used on the cheapest plans.
const smallestDisk = 25
