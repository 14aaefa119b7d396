package pipeline

import "context"

// waitActive waits for the new droplet to be active with a public address.
type waitActive struct{ nothingToUndo }

func (waitActive) String() string { return "wait for the droplet to become active" }
func (waitActive) Declare() Decl  { return Decl{Needs: API | NewDroplet | Droplet, Makes: Address} }
func (waitActive) Run(ctx context.Context, b *Build) error {
	ctx, cancel := withTimeout(ctx, b.Cfg.Timeouts.Active)
	defer cancel()
	d, err := b.Cloud.WaitActive(ctx, b.Droplet.ID)
	if d != nil {
		b.Droplet = d
	}
	if err != nil {
		return err
	}
	b.IP, _ = d.PublicIPv4()
	b.logf("droplet %d (%s) is active at %s", d.ID, d.Name, b.IP)
	return nil
}
