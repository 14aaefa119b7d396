package pipeline

import "context"

// release drops the snapshot's pending mark (its run tag) once it is in
// every wanted region: from here on the snapshot is the build's result, kept
// even if the boot test, which runs meanwhile, fails.
type release struct{ nothingToUndo }

func (release) String() string                            { return "release the snapshot" }
func (release) Declare() Decl                             { return Decl{Needs: API | Snapshot | Transferred, Makes: Released} }
func (s release) Run(ctx context.Context, b *Build) error { return runNow(ctx, b, s) }
func (release) Start(_ context.Context, b *Build) (func(context.Context) error, func()) {
	id, tag := b.Snapshot.ID, b.RunTag
	return func(ctx context.Context) error { return b.Cloud.UntagImage(ctx, id, tag) },
		func() { b.Released = true }
}
