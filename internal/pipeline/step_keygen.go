package pipeline

import (
	"context"
	"fmt"

	"github.com/mp-image-action/mp-image-action/internal/remote"
)

// keygen makes the build's ed25519 client key and a host key delivered
// through user_data, so SSH can pin it.
type keygen struct{ nothingToUndo }

func (keygen) String() string { return "generate keys" }
func (keygen) Declare() Decl  { return Decl{Needs: NewDroplet, Makes: Keys} }
func (keygen) Run(ctx context.Context, b *Build) error {
	k, err := remote.NewKeyPair("mp-image-" + b.RunID)
	if err != nil {
		return err
	}
	h, err := remote.NewHostKey()
	if err != nil {
		return err
	}
	ud, err := remote.MergeUserData(h.CloudConfig(), userData(b))
	if err != nil {
		return fmt.Errorf("user_data: %w", err)
	}
	b.Key, b.HostKey, b.UserData = k, h, ud
	return nil
}

func userData(b *Build) string {
	if b.Plan != nil {
		return b.Plan.Builder.UserData
	}
	return ""
}
