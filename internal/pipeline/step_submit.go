package pipeline

import (
	"context"
	"fmt"

	"github.com/mp-image-action/mp-image-action/internal/vendorapi"
)

// submit sends the new snapshot to the Vendor Portal as an app update, after
// the snapshot passed validation and the boot test.
type submit struct{ nothingToUndo }

func (submit) String() string { return "submit to the Vendor Portal" }
func (submit) Declare() Decl  { return Decl{Needs: OptSubmit | API | Snapshot | Released} }
func (submit) Run(ctx context.Context, b *Build) error {
	app, err := vendorapi.Submit(ctx, b.Cfg.APIURL, b.Cfg.Token, b.Cfg.SubmitAppID, b.Snapshot.ID,
		b.Cfg.SubmitVersion, b.Cfg.SubmitReason, b.Cfg.SubmitOSVersion, b.Software,
		// One 429 pause with the build's own requests (same API, same
		// token), and its retries in the build's log.
		vendorapi.WithPause(b.Cloud.Pause()), vendorapi.WithLogf(b.logf))
	if err != nil {
		return fmt.Errorf("snapshot %d is kept: %w", b.Snapshot.ID, err)
	}
	b.Submitted = app.State
	b.logf("submitted snapshot %d to app %s: status %s", b.Snapshot.ID, b.Cfg.SubmitAppID, app.State)
	return nil
}
