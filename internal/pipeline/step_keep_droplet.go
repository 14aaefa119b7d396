package pipeline

import (
	"context"
	"fmt"
)

// KeptTag marks a droplet kept on purpose (keep-droplet): reap and the post
// step never touch it.
const KeptTag = "mp-image-kept"

// keepDroplet keeps the build droplet of a build_image (keep-droplet), powered
// off after its snapshot, instead of deleting it.
type keepDroplet struct{ nothingToUndo }

func (keepDroplet) String() string { return "keep the build droplet" }
func (keepDroplet) Declare() Decl {
	return Decl{Needs: OptKeepDroplet | API | NewDroplet | Droplet, Ends: Droplet}
}
func (keepDroplet) Run(ctx context.Context, b *Build) error {
	if err := keep(ctx, b); err != nil {
		return err
	}
	b.logf("droplet %d kept, powered off, tagged %s (keep-droplet): the Marketplace cleanup removed the build's SSH key, "+
		"so reach it through the recovery console; to look around over SSH, build in build_base with keep-droplet. Delete it when done", b.Droplet.ID, KeptTag)
	return nil
}

// keep marks the build droplet kept: tagged so reap spares it, and its
// create's cleanup leaves it.
func keep(ctx context.Context, b *Build) error {
	if err := b.Cloud.TagDroplet(ctx, b.Droplet.ID, []string{KeptTag}); err != nil {
		return fmt.Errorf("tagging the kept droplet (reap would delete it otherwise): %w", err)
	}
	b.Kept = true
	return nil
}
