package pipeline

import (
	"context"
	"fmt"
	"slices"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/report"
)

// createDroplet makes the build droplet, tagged with the run id (adopted,
// never duplicated, on retry); Cleanup deletes it unless it is kept.
type createDroplet struct{}

func (createDroplet) String() string { return "create build droplet" }
func (createDroplet) Declare() Decl {
	return Decl{Needs: API | NewDroplet | Keys | AccountKey, Makes: Droplet}
}
func (createDroplet) Run(ctx context.Context, b *Build) error {
	req := &godo.DropletCreateRequest{
		Name:     dropletName(b),
		Region:   b.Cfg.Region,
		Size:     b.Cfg.Size,
		Image:    imageRef(b.Cfg.Image),
		SSHKeys:  []godo.DropletCreateSSHKey{{ID: b.AccountKey.ID}},
		UserData: b.UserData,
		Tags:     dropletTags(b),
	}
	if p := b.Plan; p != nil {
		req.Monitoring = p.Builder.Monitoring
		req.IPv6 = p.Builder.IPv6
		req.VPCUUID = p.Builder.VPCUUID
		req.PrivateNetworking = p.Builder.PrivateNetworking
		req.WithDropletAgent = p.Builder.DropletAgent
	}
	if req.WithDropletAgent == nil {
		// The agent fails Marketplace validation (/opt/digitalocean): do not install it.
		no := false
		req.WithDropletAgent = &no
	}
	fctx, done := finishCreate(ctx)
	d, err := b.Cloud.CreateDroplet(fctx, req, b.RunTag)
	done()
	if d != nil {
		b.Droplet = d
		b.Out.State(report.StateDropletID, fmt.Sprint(d.ID))
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

func (createDroplet) Cleanup(ctx context.Context, b *Build) error {
	if b.Kept {
		return nil
	}
	if b.Droplet == nil {
		if b.dropletGone {
			return nil
		}
		// The create may have taken effect with its answer lost (the build
		// was cancelled mid-request): find it by the run tag and its name.
		return deleteLostDroplets(ctx, b, dropletName(b))
	}
	id := b.Droplet.ID
	return b.deleteDropletLater(ctx, id, func() {
		b.logf("deleted droplet %d", id)
		b.Droplet, b.dropletGone = nil, true
	})
}

func dropletName(b *Build) string {
	if b.Plan != nil && b.Plan.Builder.DropletName != "" {
		return b.Plan.Builder.DropletName
	}
	return "mp-image-" + b.RunID
}

func dropletTags(b *Build) []string {
	tags := []string{ToolTag, b.RunTag}
	if b.Plan != nil {
		tags = append(tags, b.Plan.Builder.Tags...)
	}
	for _, t := range b.Cfg.DropletTags {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags
}

func imageRef(s string) godo.DropletCreateImage {
	var id int
	if _, err := fmt.Sscanf(s, "%d", &id); err == nil && fmt.Sprint(id) == s {
		return godo.DropletCreateImage{ID: id}
	}
	return godo.DropletCreateImage{Slug: s}
}
