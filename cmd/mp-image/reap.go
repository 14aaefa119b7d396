package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/pipeline"
)

// leftovers are what killed runs left behind: found by the tool's tags and names.
type leftovers struct {
	droplets  []godo.Droplet
	keys      []godo.Key
	snapshots []godo.Image
}

// findLeftovers lists, over every page, the droplets with tag (never one
// kept on purpose), the tool's keys and the snapshots still marked pending,
// all created at least olderThan ago: a running build is younger.
func findLeftovers(ctx context.Context, c *cloud.Client, tag string, olderThan time.Duration) (*leftovers, error) {
	g := c.Godo()
	cutoff := time.Now().Add(-olderThan)
	old := func(created string) bool {
		t, err := time.Parse(time.RFC3339, created)
		return err != nil || !t.After(cutoff)
	}
	var l leftovers
	ds, err := cloud.All(ctx, func(o *godo.ListOptions) ([]godo.Droplet, *godo.Response, error) {
		return g.Droplets.ListByTag(ctx, tag, o)
	})
	if err != nil {
		return nil, fmt.Errorf("listing droplets tagged %s: %w", tag, err)
	}
	// Runs with a droplet younger than the cutoff, or kept: their keys are in use.
	inUse := map[string]bool{}
	for _, d := range ds {
		kept := slices.Contains(d.Tags, pipeline.KeptTag)
		if old(d.Created) && !kept {
			l.droplets = append(l.droplets, d)
			continue
		}
		for _, t := range d.Tags {
			if run, ok := strings.CutPrefix(t, pipeline.RunTagPrefix); ok {
				inUse[run] = true
			}
		}
	}
	keys, err := cloud.All(ctx, func(o *godo.ListOptions) ([]godo.Key, *godo.Response, error) { return g.Keys.List(ctx, o) })
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	for _, k := range keys {
		run, created, ok := pipeline.ParseKeyName(k.Name)
		if !ok || tag != pipeline.ToolTag && tag != pipeline.RunTagPrefix+run || inUse[run] {
			continue
		}
		// The name carries the key's creation time; a key named by an
		// older version has none and goes with its run's droplets.
		if !created.IsZero() && created.After(cutoff) {
			continue
		}
		l.keys = append(l.keys, k)
	}
	imgs, err := cloud.All(ctx, func(o *godo.ListOptions) ([]godo.Image, *godo.Response, error) { return g.Images.ListUser(ctx, o) })
	if err != nil {
		return nil, fmt.Errorf("listing snapshots: %w", err)
	}
	for _, im := range imgs {
		// A snapshot still carrying its run's tag is pending: its run never
		// released it. --tag narrows to one run.
		if _, pending := pipeline.PendingRun(im.Tags); pending && old(im.Created) &&
			(tag == pipeline.ToolTag || slices.Contains(im.Tags, tag)) {
			l.snapshots = append(l.snapshots, im)
		}
	}
	return &l, nil
}

func runReap(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	o, code, ok := loadCommand("reap", args, env, stdout, stderr)
	if !ok {
		return code
	}
	c, err := cloud.New(cloud.Options{Token: o.Token, APIURL: o.APIURL})
	if err != nil {
		printErr(stderr, err)
		return exitUsage
	}
	l, err := findLeftovers(ctx, c, o.Sub.Tag, o.Sub.OlderThan)
	if err != nil {
		printErr(stderr, err)
		return exitFailed
	}
	for _, d := range l.droplets {
		fmt.Fprintf(stdout, "droplet  %-12d %-28s created %s tags %s\n", d.ID, d.Name, d.Created, strings.Join(d.Tags, ","))
	}
	for _, k := range l.keys {
		fmt.Fprintf(stdout, "key      %-12d %s\n", k.ID, k.Name)
	}
	for _, s := range l.snapshots {
		fmt.Fprintf(stdout, "snapshot %-12d %-28s created %s (made by a run that did not finish)\n", s.ID, s.Name, s.Created)
	}
	n := len(l.droplets) + len(l.keys) + len(l.snapshots)
	if n == 0 {
		fmt.Fprintln(stdout, "nothing left behind")
		return exitOK
	}
	if !o.Sub.Yes {
		fmt.Fprintf(stdout, "%d resource(s) found; run again with --yes to delete them\n", n)
		return exitOK
	}
	failed := 0
	for _, d := range l.droplets {
		if err := c.DeleteDroplet(ctx, d.ID); err != nil {
			printErr(stderr, err)
			failed++
		}
	}
	for _, k := range l.keys {
		if err := c.DeleteKey(ctx, k.ID); err != nil {
			printErr(stderr, err)
			failed++
		}
	}
	for _, s := range l.snapshots {
		if err := c.DeleteImage(ctx, s.ID); err != nil {
			printErr(stderr, err)
			failed++
		}
	}
	fmt.Fprintf(stdout, "deleted %d of %d\n", n-failed, n)
	if failed > 0 {
		return exitFailed
	}
	return exitOK
}
