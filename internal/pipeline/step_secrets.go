package pipeline

import (
	"context"
	"fmt"
)

// secretScan searches the disk for the build's own secrets when validation,
// which does it otherwise, is skipped (skip-cleanup in build_image: the
// template cleans and validates itself). Whatever the template's own checks
// say, a snapshot must never carry the token, the build's keys or a
// sensitive variable.
type secretScan struct{ nothingToUndo }

func (secretScan) String() string { return "search the disk for the build's secrets" }
func (secretScan) Declare() Decl  { return Decl{Needs: OptScanAlone | SSH} }
func (secretScan) Run(ctx context.Context, b *Build) error {
	found, err := scanSecrets(ctx, b)
	if err != nil {
		return fmt.Errorf("searching the disk for the build's secrets: %w", err)
	}
	if found == nil {
		b.note("nothing to search for")
		return nil
	}
	if len(found.Files) > 0 {
		return secretsOnDisk(found.Files)
	}
	b.note("none found")
	return nil
}
