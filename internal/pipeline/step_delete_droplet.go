package pipeline

import "context"

// deleteDroplet deletes the build droplet as soon as the snapshot exists:
// stop paying for it. It runs in the background, beside the transfers and
// the boot test. A --host server is never deleted.
type deleteDroplet struct{ nothingToUndo }

func (deleteDroplet) String() string { return "delete build droplet" }
func (deleteDroplet) Declare() Decl {
	return Decl{Needs: OptDeleteDroplet | API | NewDroplet | Droplet | Snapshot, Ends: Droplet}
}
func (s deleteDroplet) Run(ctx context.Context, b *Build) error { return runNow(ctx, b, s) }
func (deleteDroplet) Start(_ context.Context, b *Build) (func(context.Context) error, func()) {
	id := b.Droplet.ID
	return func(ctx context.Context) error { return b.Cloud.DeleteDroplet(ctx, id) },
		func() { b.Droplet, b.dropletGone = nil, true }
}
