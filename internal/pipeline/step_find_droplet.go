package pipeline

import (
	"context"
	"fmt"
	"net"
)

// findDroplet finds the droplet at the --host address, so a build with a
// token powers it off and snapshots it (Fabric's build_image flow). It runs
// before anything on the server changes; the droplet is never deleted.
type findDroplet struct{ nothingToUndo }

func (findDroplet) String() string { return "find the droplet at the --host address" }
func (findDroplet) Declare() Decl  { return Decl{Needs: OnHost | API, Makes: Droplet} }
func (findDroplet) Run(ctx context.Context, b *Build) error {
	host := b.Cfg.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ips := []string{host}
	if net.ParseIP(host) == nil {
		addrs, err := net.DefaultResolver.LookupIP(ctx, "ip4", host)
		if err != nil {
			return fmt.Errorf("resolving %s: %w", host, err)
		}
		ips = ips[:0]
		for _, a := range addrs {
			ips = append(ips, a.String())
		}
	}
	for _, ip := range ips {
		d, err := b.Cloud.FindDropletByIP(ctx, ip)
		if err != nil {
			return err
		}
		if d != nil {
			b.Droplet = d
			if d.Region != nil && d.Region.Slug != "" {
				b.Cfg.Region = d.Region.Slug // its snapshot is made, and boot-tested, where it runs
			}
			b.logf("--host %s is droplet %d (%s) in %s: it is snapshotted after the build and stays powered off, never deleted", b.Cfg.Host, d.ID, d.Name, b.Cfg.Region)
			return nil
		}
	}
	return fmt.Errorf("no droplet in this account has the address %s: with a token, a --host build snapshots the droplet at that address "+
		"(nothing on the server was changed); check --host and the token's account, or unset the token to provision the server only", b.Cfg.Host)
}
