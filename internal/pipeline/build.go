package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/packer"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/timing"
	"github.com/mp-image-action/mp-image-action/internal/vendorapi"
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
	if cfg.Cloud != "local" {
		set("api-url", &cfg.APIURL, bu.APIURL)
	}
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

// Build is everything a build knows, filled in as steps run.
type Build struct {
	Cfg   *config.Config
	Plan  *recipe.Plan
	Cloud *cloud.Client
	Out   report.Sink
	Logf  func(format string, args ...any)

	RunID   string // short, unique per run
	RunTag  string // tag on every resource of this run: reap finds leftovers by it
	Started time.Time
	// Timing records API waits and remote operations for the manifest's
	// timing block (what is left of the wall time is the tool's own).
	Timing *timing.Recorder

	Key        *remote.KeyPair
	HostKey    *remote.HostKey
	UserData   string
	AccountKey *godo.Key
	Droplet    *godo.Droplet
	IP         string
	SSH        *remote.Client
	MinDisk    int // GB, of the base image
	BaseImage  *godo.Image

	Validation *imagecheck.Report
	// Facts are what the validation round trip read after cleanup; its
	// package list is the snapshot's, for the SBOM.
	Facts      *imagecheck.Facts
	Software   []vendorapi.Software // submit-software, versions filled from the packages
	SBOMSHA256 string               // of the SBOM file written
	// provenanceWritten: the provenance file exists and describes this build.
	provenanceWritten bool
	Fresh             Fresh // mp-image freshness: the answer
	ReportPath        string
	Snapshot          *godo.Image
	Regions           []string
	KeyPath           string // private key saved for keep-droplet
	Submitted         string // Vendor Portal status after submit (e.g. in_review)

	// Outcomes, typed: cleanups decide on these, never on the log records.
	Failed         Step // the step that failed or was cancelled; nil when none did
	Cancelled      bool // the build was cancelled (signal or timeout)
	Released       bool // the snapshot passed everything up to release: a later failure keeps it
	BootTestFailed bool // the boot test failed or was cancelled; the released snapshot is kept
	Kept           bool // the build droplet is kept on purpose (keep-droplet)

	secrets *report.Secrets  // what every sink and file hides
	pending *pendingSnapshot // a snapshot started and not seen to end
	// dial, when set, opens SSH's TCP connections (tests route droplet
	// addresses to in-process servers).
	dial func(ctx context.Context, addr string) (net.Conn, error)
	boot *bootTestState // the boot test's droplet, key and connection
	// dropletGone: the build droplet was deleted on purpose (no lookup for
	// a lost create is needed when Droplet is nil).
	dropletGone bool
	// deletions are the deletes cleanups sent, verified together at the end.
	deletions []deletion

	Records []report.StepRecord
	notes   []string // the running step's result detail (see note)
	stderr  []string // the last stderr lines of the latest remote command (see outputTo)
}

// Tool tags: every resource carries ToolTag and its run's RunTag.
const ToolTag = "mp-image"

// RunTagPrefix starts every run tag.
const RunTagPrefix = "mp-image-run-"

// addSecret hides value in every output and file, or, when it is too short
// to be a real secret, says so instead of mangling every word that holds it.
func (b *Build) addSecret(what, value string) {
	if value == "" {
		return
	}
	if report.TooShort(value) {
		b.Out.Annotate(warning("secret", fmt.Sprintf("%s is %d characters long: too short to be a real secret, so it is not masked in the output (use a real secret)", what, len(value))))
		return
	}
	b.Out.Mask(value)
}

func (b *Build) logf(format string, args ...any) {
	if b.Logf != nil {
		b.Logf(format, args...)
	}
}

// Execute runs a whole build and reports it to out: outputs, manifest,
// summary. The returned Build holds everything the run learned.
func Execute(ctx context.Context, cfg *config.Config, p *recipe.Plan, out report.Sink, logf func(string, ...any)) (*Build, error) {
	b, err := newBuild(cfg, p, out, logf)
	if err != nil {
		return b, err
	}
	return b, b.execute(ctx)
}

// newBuild is a run's state before its first step: its ID and tag, the
// secrets masked, and an API client unless it provisions a --host without a token.
func newBuild(cfg *config.Config, p *recipe.Plan, out report.Sink, logf func(string, ...any)) (*Build, error) {
	if err := CheckUser(cfg, p); err != nil {
		return &Build{Cfg: cfg, Plan: p, Out: out, Started: time.Now(), Timing: &timing.Recorder{}}, err
	}
	red := report.Redacting(out, report.NewSecrets())
	out = red
	b := &Build{Cfg: cfg, Plan: p, Out: out, Logf: logf, RunID: NewRunID(), Started: time.Now(), Timing: &timing.Recorder{}, secrets: red.Secrets}
	b.RunTag = RunTagPrefix + b.RunID
	b.addSecret("the API token", cfg.Token)
	if p != nil {
		for _, s := range p.Builder.Sensitive {
			b.addSecret("a sensitive variable", s)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.SecretEnvValues)) {
		b.addSecret("secret-env "+k, cfg.SecretEnvValues[k])
	}
	if usesAPI(cfg) {
		// The waits need no hint about the API's clock: they are right for
		// any duration (cloud.Poll).
		co := cloud.Options{Token: cfg.Token, APIURL: cfg.APIURL, Logf: logf, UserAgent: "mp-image-action/" + Version, Timing: b.Timing,
			FixedPoll: cfg.PollInterval}
		c, err := cloud.New(co)
		if err != nil {
			return b, err
		}
		b.Cloud = c
	}
	return b, nil
}

// runRecorded runs steps within the total timeout, with the run recorded for
// the Action's post step, which it tells at the end that nothing is left.
func runRecorded(ctx context.Context, b *Build, steps []Step) error {
	b.Out.State(report.StateRunID, b.RunID)
	b.Out.State(report.StateAPIURL, b.Cfg.APIURL)
	ctx, cancel := withTimeout(ctx, b.Cfg.Timeouts.Total)
	defer cancel()
	err := Run(ctx, b, steps)
	// The cleanups have run: the post step has nothing left to delete.
	b.Out.State(report.StateDone, "true")
	return err
}

// execute runs the build's steps and reports them: outputs, manifest, summary.
func (b *Build) execute(ctx context.Context) error {
	err := runRecorded(ctx, b, Steps(b.Cfg.Mode))
	if werr := finish(b, err); werr != nil && err == nil {
		err = werr
	}
	return err
}

// CheckAPIURL refuses a run that would send the token to another host than
// the one the template's api_url names (the template's own token above all),
// before any request. The local cloud's throwaway token stays on this machine.
func CheckAPIURL(cfg *config.Config, p *recipe.Plan) error {
	if p == nil || p.Builder.APIURL == "" || cfg.Cloud == "local" {
		return nil
	}
	if err := config.CheckAPIURL(p.Builder.APIURL); err != nil {
		return fmt.Errorf("the template's api_url: %w", err)
	}
	want, _ := url.Parse(p.Builder.APIURL)
	got, err := url.Parse(cfg.APIURL)
	if err != nil || !strings.EqualFold(got.Host, want.Host) || got.Scheme != want.Scheme {
		return fmt.Errorf("the template's api_url is %s but api-url is %s: the token would go to another host than the template names; "+
			"remove api-url (or DIGITALOCEAN_API_URL) or change the template's api_url", p.Builder.APIURL, cfg.APIURL)
	}
	return nil
}

// CheckUser refuses a non-root ssh-user before anything is created: apt,
// uploads into system paths, the Marketplace cleanup and validation need
// root, and the build does not use sudo.
func CheckUser(cfg *config.Config, p *recipe.Plan) error {
	if cfg.SSHUser == "" || cfg.SSHUser == "root" {
		return nil
	}
	from := "ssh-user"
	if p != nil && p.Builder.SSHUsername == cfg.SSHUser && !cfg.Explicit["ssh-user"] {
		from = "the template's ssh_username"
	}
	return fmt.Errorf("%s is %q: only root is supported (apt, uploads, the Marketplace cleanup and validation need root, and the build does not use sudo; "+
		"DigitalOcean gives the build key to root): set ssh-user to root, or for --host give a key that logs in as root", from, cfg.SSHUser)
}

// Version is set by the linker.
var Version = "dev"

// Outputs are the build's results for the sinks.
func (b *Build) Outputs() report.Outputs {
	o := report.Outputs{ReportPath: b.ReportPath, ManifestPath: b.Cfg.Manifest, DropletIP: b.remainingIP(), KeyPath: b.KeyPath}
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
	if b.SBOMSHA256 != "" {
		o.SBOMPath = b.Cfg.SBOM
	}
	if b.provenanceWritten {
		o.ProvenancePath = b.Cfg.Provenance
	}
	return o
}

// remainingIP is the address of the server left after the build (a kept
// droplet, the --host server): a deleted droplet's address is no output.
func (b *Build) remainingIP() string {
	if b.Droplet != nil || b.Cfg.Host != "" {
		return b.IP
	}
	return ""
}

// Requests is how many API requests this build made.
func (b *Build) Requests() int {
	if b.Cloud == nil {
		return 0
	}
	return b.Cloud.Stats().Requests
}

func finish(b *Build, runErr error) error {
	var errs []error
	// The SBOM first: the manifest pins its digest, and the provenance both.
	if err := writeSBOM(b); err != nil {
		errs = append(errs, err)
	}
	m := b.Manifest(runErr)  // one record for the file and the summary alike
	b.secrets.RedactValue(m) // a failing script's last line may carry a secret
	if err := writeManifest(b, m); err != nil {
		errs = append(errs, err)
	}
	if runErr == nil && len(errs) == 0 {
		if err := writeProvenance(b, m); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.Out.Outputs(b.Outputs()); err != nil {
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
