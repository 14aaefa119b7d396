package pipeline

import (
	"context"
	"fmt"
	"time"
)

const defaultShutdownGrace = 2 * time.Minute

// powerOff shuts the droplet down, waits for it to be off, and falls back
// to power_off.
type powerOff struct{ nothingToUndo }

func (powerOff) String() string { return "power off" }
func (powerOff) Declare() Decl  { return Decl{Needs: API | Droplet, Makes: Off, Ends: SSH} }
func (powerOff) Run(ctx context.Context, b *Build) error {
	if b.SSH != nil {
		b.SSH.Close() // the OS is going down; nothing more runs over SSH
		b.SSH = nil
	}
	grace := b.Cfg.Timeouts.Shutdown
	if grace <= 0 {
		grace = defaultShutdownGrace
	}
	fellBack, err := b.Cloud.Shutdown(ctx, b.Droplet.ID, grace)
	if fellBack {
		b.Out.Annotate(warning("shutdown", fmt.Sprintf("droplet %d did not shut down within %s; it was powered off", b.Droplet.ID, grace)))
	}
	return err
}
