package recipe

import (
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/shell"
)

// Plan is the ordered provisioning a build runs, compiled from a recipe
// folder or a Packer template, so the pipeline executes one shape only.
type Plan struct {
	Source   string   // "recipe:DIR" or "packer:FILE"
	Builder  Builder  // settings from a Packer builder (zero for recipes: the build config decides)
	Actions  []Action // provisioning, in order
	Verify   []Action // boot-test scripts run on a droplet made from the snapshot
	Manifest string   // output path of a Packer manifest post-processor, if any
	// ManifestCustomData and ManifestStripTime are that post-processor's
	// custom_data and strip_time, written as Packer writes them.
	ManifestCustomData map[string]string
	ManifestStripTime  bool
	Warnings           []string // things accepted but ignored or worth a look; never fatal
}

// Builder holds what a Packer "digitalocean" builder sets. Empty fields mean
// "not set by the template": the build config's value or default applies.
type Builder struct {
	Name              string // builder name (Packer's "name", or the HCL source name)
	APIToken          string // SECRET: never print; also listed in Sensitive
	APIURL            string // api_url: where the token may go
	Image             string
	Region            string
	Size              string
	SSHUsername       string
	SnapshotName      string
	DropletName       string
	SnapshotRegions   []string
	SnapshotTags      []string
	Tags              []string
	UserData          string // user_data, or the contents of user_data_file
	Monitoring        bool
	IPv6              bool
	DropletAgent      *bool // nil: not set
	PrivateNetworking bool
	VPCUUID           string
	StateTimeout      time.Duration
	SnapshotTimeout   time.Duration
	Sensitive         []string // values to mask in every log line (sensitive variables, the token)
}

// ActionKind says how the pipeline carries out an Action.
type ActionKind string

// Every kind but KindShell is a copy of LocalPath to RemotePath; the pipeline
// needs only two primitives (copy, run) to execute any plan.
const (
	// KindUpload copies LocalPath to RemotePath, keeping modes, owned by root.
	KindUpload ActionKind = "upload"
	// KindShell uploads Script to a temporary remote file and runs it with
	// ExecuteCommand, Env in the environment and stdin closed.
	KindShell ActionKind = "shell"
	// KindPerInstance copies one file into /var/lib/cloud/scripts/per-instance/ with Mode 0755.
	KindPerInstance ActionKind = "per-instance"
	// KindFirstLogin copies the first-login/ folder's contents into /opt/<vendor>/;
	// a KindShell action after it installs the one-time call in /root/.bashrc.
	KindFirstLogin ActionKind = "first-login"
)

// IsCopy reports whether the action copies files rather than running a script.
func (k ActionKind) IsCopy() bool { return k != KindShell }

// Action is one provisioning step.
type Action struct {
	Kind ActionKind
	Name string // shown in logs: "scripts/10-nginx.sh" or "provisioner 3 (shell): scripts/x.sh"
	File string // where it came from: recipe file, or the template file
	Line int    // line in File (0: the whole file)
	Step int    // 1-based provisioner index in a Packer template (one provisioner may give several actions); 0 for recipes

	// Copies. The trailing-slash rule is already resolved: when LocalPath is a
	// directory, Contents is true and its contents go INTO RemotePath (created
	// if missing); when it is a file, RemotePath is the file's full remote path.
	LocalPath  string
	RemotePath string
	Contents   bool
	Mode       fs.FileMode // 0: keep the local modes; else force this mode on the copied file(s)

	// Shell.
	Script           []byte            // the script body, shebang included
	ScriptPath       string            // local file the body came from ("" for inline scripts)
	Env              map[string]string // environment for the script
	ExecuteCommand   string            // Packer's template with {{.Vars}} and {{.Path}}; "" = DefaultExecuteCommand
	ValidExitCodes   []int             // nil = [0]
	ExpectDisconnect bool              // the script may reboot or drop the connection
	PauseBefore      time.Duration
	Timeout          time.Duration // 0: the build's script timeout applies
}

// DefaultExecuteCommand is Packer's shell provisioner default: the script runs
// by its own shebang with the environment given on the command line.
const DefaultExecuteCommand = "chmod +x {{.Path}}; {{.Vars}} {{.Path}}"

// Command renders the command that runs the action's script after it was
// uploaded to remotePath, as Packer's shell provisioner does: {{.Vars}} becomes
// KEY='value' pairs in key order, {{.Path}} the remote path (unquoted, as in
// Packer: the pipeline picks a path without shell metacharacters).
func (a Action) Command(remotePath string) string {
	tmpl := a.ExecuteCommand
	if tmpl == "" {
		tmpl = DefaultExecuteCommand
	}
	// Literal replacement functions: values must not be re-read as patterns.
	tmpl = varsRe.ReplaceAllLiteralString(tmpl, EnvString(a.Env))
	return pathRe.ReplaceAllLiteralString(tmpl, remotePath)
}

var (
	varsRe = regexp.MustCompile(`\{\{\s*\.Vars\s*\}\}`)
	pathRe = regexp.MustCompile(`\{\{\s*\.Path\s*\}\}`)
)

// ExitOK reports whether a script's exit status counts as success.
func (a Action) ExitOK(code int) bool {
	if len(a.ValidExitCodes) == 0 {
		return code == 0
	}
	for _, c := range a.ValidExitCodes {
		if c == code {
			return true
		}
	}
	return false
}

// EnvString formats env as Packer's {{.Vars}}: KEY='value' pairs sorted by key,
// values single-quoted so the remote shell takes them literally.
func EnvString(env map[string]string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+shell.Quote(env[k]))
	}
	return strings.Join(parts, " ")
}

// Describe writes the `mp-image plan` listing: builder settings (secrets
// masked), then numbered steps with kind, name and source file:line.
func (p *Plan) Describe(w io.Writer) {
	fmt.Fprintf(w, "Plan from %s\n", p.Source)
	p.describeBuilder(w)
	fmt.Fprintf(w, "Provisioning (%d steps):\n", len(p.Actions))
	describeActions(w, p.Actions)
	if len(p.Verify) > 0 {
		fmt.Fprintf(w, "Boot test verify scripts (%d):\n", len(p.Verify))
		describeActions(w, p.Verify)
	}
	if p.Manifest != "" {
		fmt.Fprintf(w, "Manifest: %s\n", p.Manifest)
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

func (p *Plan) describeBuilder(w io.Writer) {
	b := p.Builder
	var rows [][2]string
	add := func(k, v string) {
		if v != "" {
			rows = append(rows, [2]string{k, v})
		}
	}
	if b.APIToken != "" {
		add("api_token", "(set in the template, masked)")
	}
	add("image", b.Image)
	add("region", b.Region)
	add("size", b.Size)
	add("ssh_username", b.SSHUsername)
	add("snapshot_name", b.SnapshotName)
	add("droplet_name", b.DropletName)
	add("snapshot_regions", strings.Join(b.SnapshotRegions, ","))
	add("snapshot_tags", strings.Join(b.SnapshotTags, ","))
	add("tags", strings.Join(b.Tags, ","))
	if b.UserData != "" {
		add("user_data", fmt.Sprintf("(%d bytes)", len(b.UserData)))
	}
	if b.Monitoring {
		add("monitoring", "true")
	}
	if b.IPv6 {
		add("ipv6", "true")
	}
	if b.DropletAgent != nil {
		add("droplet_agent", fmt.Sprint(*b.DropletAgent))
	}
	if b.PrivateNetworking {
		add("private_networking", "true")
	}
	add("vpc_uuid", b.VPCUUID)
	if b.StateTimeout > 0 {
		add("state_timeout", b.StateTimeout.String())
	}
	if b.SnapshotTimeout > 0 {
		add("snapshot_timeout", b.SnapshotTimeout.String())
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "Builder:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s:\t%s\n", r[0], mask(r[1], b.Sensitive))
	}
	tw.Flush()
}

func describeActions(w io.Writer, actions []Action) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, a := range actions {
		what := a.Name
		if a.Kind.IsCopy() {
			what = fmt.Sprintf("%s -> %s", a.Name, a.RemotePath)
		}
		src := a.File
		if a.Line > 0 {
			src = fmt.Sprintf("%s:%d", a.File, a.Line)
		}
		fmt.Fprintf(tw, "  %d.\t%s\t%s\t%s\n", i+1, a.Kind, what, src)
	}
	tw.Flush()
}

// mask replaces every sensitive value in s, so a secret interpolated into a
// snapshot name or a tag never reaches the listing. A value too short to be a
// real secret (a token of "x") is left alone, as every sink does: replacing
// it would mangle slugs such as ubuntu-24-04-x64.
func mask(s string, sensitive []string) string {
	for _, v := range sensitive {
		if !report.TooShort(v) {
			s = strings.ReplaceAll(s, v, "<sensitive>")
		}
	}
	return s
}
