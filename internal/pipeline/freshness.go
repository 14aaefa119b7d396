package pipeline

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/freshness"
	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// Freshness answers "should this listed image be rebuilt?" with the boot
// test's machinery, under the same runner: cleanups in reverse on success,
// failure, panic or cancellation, everything tagged with the run for reap.
var Freshness = []Step{
	findSnapshot{},  // the snapshot exists: an unknown ID stops here, before anything is created
	latestVersion{}, // freshness/latest-version on the runner: a failing script stops here, before any droplet
	bootSnapshot{},  // a droplet from the snapshot on the smallest plan, first boot awaited; Cleanup deletes it
	checkFresh{},    // apt-get update + the security-updates rule, pending upgrades, application.info, verify/
}

// Fresh is the answer: stale with one reason per line, and what was seen.
type Fresh struct {
	Stale      bool
	Reasons    []string
	Pending    []imagecheck.Pending
	AppVersion string // application_version in the image
	Latest     string // what freshness/latest-version printed ("" without one)
}

type findSnapshot struct{ nothingToUndo }

func (findSnapshot) String() string { return "find the snapshot" }
func (findSnapshot) Declare() Decl  { return Decl{Needs: API, Makes: Snapshot} }
func (findSnapshot) Run(ctx context.Context, b *Build) error {
	id := b.Cfg.FreshnessSnapshot
	img, err := b.Cloud.Image(ctx, id)
	if cloud.StatusOf(err) == 404 {
		return fmt.Errorf("snapshot %s does not exist (or is not this token's team's): pass the snapshot ID of the listed image (a build's snapshot-id)", id)
	}
	if err != nil {
		return fmt.Errorf("looking up snapshot %s: %w", id, err)
	}
	if img.Type != "snapshot" {
		return fmt.Errorf("image %d is a %s image (%s), not a snapshot: pass the snapshot ID of the listed image", img.ID, img.Type, img.Slug)
	}
	b.Snapshot = img
	if len(img.Regions) > 0 && !containsStr(img.Regions, b.Cfg.Region) {
		// A droplet boots from a snapshot only where the snapshot is.
		b.logf("snapshot %d is in %s, not %s: booting it in %s", img.ID, strings.Join(img.Regions, ","), b.Cfg.Region, img.Regions[0])
		b.Cfg.Region = img.Regions[0]
	}
	b.logf("snapshot %d (%s), created %s", img.ID, img.Name, img.Created)
	return nil
}

type latestVersion struct{ nothingToUndo }

func (latestVersion) String() string { return "run freshness/latest-version" }
func (latestVersion) Declare() Decl  { return Decl{Needs: OptLatestVersion} }
func (latestVersion) Run(ctx context.Context, b *Build) error {
	v, err := freshness.LatestVersion(ctx, b.Cfg.Dir, scriptEnv())
	if err != nil {
		return err
	}
	b.Fresh.Latest = v
	b.logf("freshness/latest-version: %s", v)
	return nil
}

// scriptEnv is the runner's environment without the API token: the script
// asks an upstream project, not DigitalOcean.
func scriptEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if o, ok := config.Lookup("token"); ok && slices.Contains(o.EnvNames(), k) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// bootSnapshot boots the snapshot as the boot test does, with its cleanup.
type bootSnapshot struct{}

func (bootSnapshot) String() string { return "boot a droplet from the snapshot" }
func (bootSnapshot) Declare() Decl  { return Decl{Needs: API | Snapshot, Makes: Booted} }
func (bootSnapshot) Run(ctx context.Context, b *Build) error {
	_, _, err := bootDroplet(ctx, b, "freshness")
	return err
}
func (bootSnapshot) Cleanup(ctx context.Context, b *Build) error { return bootTest{}.Cleanup(ctx, b) }

type checkFresh struct{ nothingToUndo }

func (checkFresh) String() string { return "check for updates and run verify/" }
func (checkFresh) Declare() Decl  { return Decl{Needs: Booted} }
func (checkFresh) Run(ctx context.Context, b *Build) error {
	c := b.boot.ssh
	opts := imagecheck.Options{Mode: config.ModeBuildImage}
	facts, err := imagecheck.Collect(ctx, c, opts)
	if err != nil {
		return fmt.Errorf("checking the booted droplet: %w", err)
	}
	f := &b.Fresh
	if facts.AppInfo == nil {
		return fmt.Errorf("snapshot %d has no /var/lib/digitalocean/application.info, so there is no application_version to compare: build it with mp-image (it writes the file) or write the file in the recipe", b.Snapshot.ID)
	}
	f.AppVersion = imagecheck.AppInfoValue(facts.AppInfo.Content, "application_version")
	u := facts.Updates
	if u.Refreshed && u.RefreshExit != 0 {
		return fmt.Errorf("apt-get update failed on the booted droplet (exit %d): %s", u.RefreshExit, strings.Join(u.RefreshMsgs, "; "))
	}
	f.Pending = u.Pending
	for _, p := range u.Pending {
		b.Out.Log(fmt.Sprintf("[freshness] pending: %s %s -> %s (%s)", p.Name, orNone(p.Installed), p.Candidate, p.Origin))
	}
	if len(u.Pending) == 0 {
		b.Out.Log("[freshness] no pending upgrades")
	}
	for _, x := range imagecheck.Evaluate(facts, opts).Results {
		if x.ID != "security-updates" || x.Status != imagecheck.Fail {
			continue
		}
		named := map[string]bool{}
		for _, p := range u.Pending {
			if p.Security {
				named[p.Name] = true
				f.Reasons = append(f.Reasons, fmt.Sprintf("security update: %s %s -> %s (%s)", p.Name, orNone(p.Installed), p.Candidate, p.Origin))
			}
		}
		for _, name := range u.Packages {
			if !named[name] {
				f.Reasons = append(f.Reasons, "security update pending: "+name)
			}
		}
	}
	if f.Latest != "" {
		switch {
		case f.AppVersion == "":
			f.Reasons = append(f.Reasons, fmt.Sprintf("upstream version %s, and the image's application.info has no application_version", f.Latest))
		case freshness.Newer(f.Latest, f.AppVersion):
			f.Reasons = append(f.Reasons, fmt.Sprintf("upstream version %s is newer than the image's application_version %s", f.Latest, f.AppVersion))
		}
	}
	failed, err := runVerifyAll(ctx, b, c)
	if err != nil {
		return err
	}
	for _, e := range failed {
		f.Reasons = append(f.Reasons, "fails on a droplet from the snapshot: "+e.Error())
	}
	sort.Strings(f.Reasons)
	f.Stale = len(f.Reasons) > 0
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(not installed)"
	}
	return s
}

// ExecuteFreshness checks one snapshot and reports stale and reasons to out.
func ExecuteFreshness(ctx context.Context, cfg *config.Config, p *recipe.Plan, out report.Sink, logf func(string, ...any)) (*Build, error) {
	b, err := newBuild(cfg, p, out, logf)
	if err != nil {
		return b, err
	}
	if err := runRecorded(ctx, b, Freshness); err != nil {
		return b, err
	}
	if werr := out.Outputs(report.Outputs{Stale: strconv.FormatBool(b.Fresh.Stale), Reasons: strings.Join(b.Fresh.Reasons, "\n"),
		SnapshotID: strconv.Itoa(b.Snapshot.ID), SnapshotName: b.Snapshot.Name}); werr != nil {
		return b, werr
	}
	if werr := out.Summary(freshSummary(b)); werr != nil {
		return b, werr
	}
	return b, nil
}

func freshSummary(b *Build) string {
	f := b.Fresh
	var s strings.Builder
	verdict := "fresh: nothing calls for a rebuild"
	if f.Stale {
		verdict = "stale: rebuild"
	}
	fmt.Fprintf(&s, "## Freshness of snapshot %d (%s): %s\n\n", b.Snapshot.ID, b.Snapshot.Name, verdict)
	fmt.Fprintf(&s, "application_version %s", orNone(f.AppVersion))
	if f.Latest != "" {
		fmt.Fprintf(&s, ", upstream %s", f.Latest)
	}
	s.WriteString("\n\n")
	for _, r := range f.Reasons {
		fmt.Fprintf(&s, "- %s\n", r)
	}
	if len(f.Pending) > 0 {
		s.WriteString("\n| pending upgrade | installed | candidate | from |\n|---|---|---|---|\n")
		for _, p := range f.Pending {
			fmt.Fprintf(&s, "| %s | %s | %s | %s |\n", p.Name, orNone(p.Installed), p.Candidate, p.Origin)
		}
	}
	return s.String()
}
