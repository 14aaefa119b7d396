package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/packer"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// NewRunID returns a short random id that names and tags this run's resources.
func NewRunID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// LoadPlan compiles the recipe folder or the Packer template into a plan.
// Every problem is reported before any droplet exists.
func LoadPlan(cfg *config.Config) (*recipe.Plan, error) {
	if cfg.PackerTemplate != "" {
		vars := map[string]string{}
		for _, kv := range cfg.PackerVars {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("-var %q: write it as name=value", kv)
			}
			vars[k] = v
		}
		return packer.Load(cfg.PackerTemplate, packer.Options{Vars: vars, VarFiles: cfg.PackerVarFiles, BaseDir: cfg.TemplateBase, Env: os.Getenv})
	}
	r, err := recipe.Load(cfg.Dir)
	if err != nil {
		return nil, err
	}
	return r.Plan(recipe.PlanOptions{Vendor: cfg.Vendor, Env: cfg.Env})
}

// ApplyBuilder lets a Packer template's builder settings stand where the
// user did not set an option explicitly (explicit reports which were set).
func ApplyBuilder(cfg *config.Config, p *recipe.Plan, explicit func(name string) bool) {
	bu := p.Builder
	set := func(name string, dst *string, v string) {
		if v != "" && !explicit(name) {
			*dst = v
		}
	}
	set("image", &cfg.Image, bu.Image)
	set("region", &cfg.Region, bu.Region)
	set("size", &cfg.Size, bu.Size)
	set("ssh-user", &cfg.SSHUser, bu.SSHUsername)
	if bu.APIToken != "" && !explicit("token") && cfg.Token == "" {
		cfg.Token = bu.APIToken
	}
	if len(bu.SnapshotRegions) > 0 && !explicit("snapshot-regions") {
		cfg.SnapshotRegions = bu.SnapshotRegions
	}
	if bu.StateTimeout > 0 && !explicit("active-timeout") {
		cfg.Timeouts.Active = bu.StateTimeout
	}
	if bu.SnapshotTimeout > 0 && !explicit("snapshot-timeout") {
		cfg.Timeouts.Snapshot = bu.SnapshotTimeout
	}
}

// Execute runs a whole build and reports it to out: outputs, manifest,
// summary. The returned Build holds everything the run learned.
func Execute(ctx context.Context, cfg *config.Config, p *recipe.Plan, out report.Sink, logf func(string, ...any)) (*Build, error) {
	b := &Build{Cfg: cfg, Plan: p, Out: out, Logf: logf, RunID: NewRunID(), Started: time.Now(), Timing: &timing.Recorder{}}
	b.RunTag = RunTagPrefix + b.RunID
	if cfg.Token != "" {
		out.Mask(cfg.Token)
	}
	if p != nil {
		for _, s := range p.Builder.Sensitive {
			out.Mask(s)
		}
	}
	if cfg.Host == "" || cfg.Token != "" {
		// A local cloud with a fast clock says so in every answer and the
		// client scales its polling to it (cloud.TimeScaleHeader); the API's
		// address says nothing about its timings.
		co := cloud.Options{Token: cfg.Token, APIURL: cfg.APIURL, Logf: logf, UserAgent: "mp-image-action/" + Version, Timing: b.Timing}
		c, err := cloud.New(co)
		if err != nil {
			return b, err
		}
		b.Cloud = c
	}
	out.State(report.StateRunID, b.RunID)
	out.State(report.StateAPIURL, cfg.APIURL)
	steps := BuildImage
	if cfg.Mode == config.ModeBuildBase {
		steps = BuildBase
	}
	if cfg.Host != "" && cfg.Token == "" {
		steps = withoutCloud(steps)
	}
	ctx, cancel := withTimeout(ctx, cfg.Timeouts.Total)
	defer cancel()
	err := Run(ctx, b, steps)
	// The cleanups have run: the post step has nothing left to delete.
	out.State(report.StateDone, "true")
	if werr := finish(b, err); werr != nil && err == nil {
		err = werr
	}
	return b, err
}

// withoutCloud drops the steps that need the API (a --host build without a token).
func withoutCloud(steps []Step) []Step {
	var out []Step
	for _, s := range steps {
		switch s.(type) {
		case preflight, powerOff, snapshot, deleteDroplet, transfer:
			continue
		}
		out = append(out, s)
	}
	return out
}

// Version is set by the linker.
var Version = "dev"

// Outputs are the build's results for the sinks.
func (b *Build) Outputs() report.Outputs {
	o := report.Outputs{ReportPath: b.ReportPath, ManifestPath: b.Cfg.Manifest, DropletIP: b.IP}
	if b.Snapshot != nil {
		o.SnapshotID = fmt.Sprint(b.Snapshot.ID)
		o.SnapshotName = b.Snapshot.Name
		o.SnapshotRegions = slices.Clone(b.Regions)
	}
	if b.Droplet != nil {
		o.DropletID = b.Droplet.ID
	}
	if b.Validation != nil {
		o.Validation = b.Validation.Verdict()
	}
	return o
}

// Requests is how many API requests this build made.
func (b *Build) Requests() int {
	if b.Cloud == nil {
		return 0
	}
	return b.Cloud.Stats().Requests
}

func finish(b *Build, runErr error) error {
	o := b.Outputs()
	var errs []error
	if err := b.Out.Outputs(o); err != nil {
		errs = append(errs, err)
	}
	m := b.Manifest(runErr) // one record for the file and the summary alike
	if err := writeManifest(b, m); err != nil {
		errs = append(errs, err)
	}
	if err := b.Out.Summary(summaryMarkdown(b, m)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("reporting results: %v", errs)
	}
	return nil
}
