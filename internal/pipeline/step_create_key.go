package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/report"
)

// createKey uploads the temporary account key; Cleanup deletes it.
type createKey struct{}

func (createKey) String() string { return "create temporary SSH key" }
func (createKey) Declare() Decl  { return Decl{Needs: API | NewDroplet | Keys, Makes: AccountKey} }
func (createKey) Run(ctx context.Context, b *Build) error {
	fctx, done := finishCreate(ctx)
	k, err := b.Cloud.CreateKey(fctx, KeyName(b.RunID, false, time.Now()), b.Key.AuthorizedKey, b.Key.Fingerprint())
	done()
	if k != nil {
		b.AccountKey = k
		b.Out.State(report.StateKeyID, fmt.Sprint(k.ID))
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

func (createKey) Cleanup(ctx context.Context, b *Build) error {
	if b.AccountKey == nil {
		// The create may have taken effect with its answer lost (the build
		// was cancelled mid-request): find it by its fingerprint.
		return deleteLostKey(ctx, b, b.Key)
	}
	return b.deleteKeyLater(ctx, b.AccountKey.ID, func() { b.AccountKey = nil })
}
