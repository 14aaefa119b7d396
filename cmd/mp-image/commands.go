package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/pipeline"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

func runPlan(_ context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	cfg, rest, err := config.Load(args, env)
	if errors.Is(err, flag.ErrHelp) {
		config.Usage(stdout)
		return exitOK
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q", rest[0])
	}
	if err == nil && (cfg.Dir == "") == (cfg.PackerTemplate == "") {
		err = errors.New("give exactly one of --dir and --packer-template")
	}
	if err != nil {
		printErr(stderr, err)
		return exitUsage
	}
	p, err := pipeline.LoadPlan(cfg)
	if err != nil {
		printErr(stderr, err)
		return exitFailed
	}
	p.Describe(stdout)
	steps := pipeline.BuildImage
	if cfg.Mode == config.ModeBuildBase {
		steps = pipeline.BuildBase
	}
	fmt.Fprintf(stdout, "Build steps (%s):\n", cfg.Mode)
	for i, s := range steps {
		fmt.Fprintf(stdout, "  %2d. %s\n", i+1, s)
	}
	return exitOK
}

func runValidate(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", "", "server address (host or host:port)")
	key := fs.String("ssh-key", "", "private key file")
	user := fs.String("user", "root", "SSH user")
	hostKey := fs.String("host-key", "", "expected host key (an authorized_keys-style line); without it the key is not checked")
	failOn := fs.String("fail-on", "fail", "exit 1 on: fail, warn or never")
	reportPath := fs.String("report", "", "write the JSON report here")
	skipUpdate := fs.Bool("skip-apt-update", false, "do not refresh the package lists before counting security updates")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *host == "" || *key == "" {
		fmt.Fprintln(stderr, "mp-image: validate needs --host ADDRESS and --ssh-key FILE")
		return exitUsage
	}
	if *failOn != "fail" && *failOn != "warn" && *failOn != "never" {
		fmt.Fprintf(stderr, "mp-image: --fail-on %q: use fail, warn or never\n", *failOn)
		return exitUsage
	}
	signer, err := remote.LoadPrivateKey(*key)
	if err != nil {
		printErr(stderr, err)
		return exitUsage
	}
	cfg := remote.Config{Addr: *host, User: *user, Signer: signer}
	if _, _, err := net.SplitHostPort(*host); err != nil {
		cfg.Addr = net.JoinHostPort(*host, "22")
	}
	if *hostKey != "" {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*hostKey))
		if err != nil {
			printErr(stderr, fmt.Errorf("--host-key: %w", err))
			return exitUsage
		}
		cfg.HostKey = pk
	} else {
		cfg.InsecureIgnoreHostKey = true
		fmt.Fprintln(stderr, "mp-image: warning: host key not checked (pass --host-key to pin it)")
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	c, err := remote.DialRetry(dctx, cfg)
	cancel()
	if err != nil {
		printErr(stderr, err)
		return exitFailed
	}
	defer c.Close()
	rep, err := imagecheck.Run(ctx, c, imagecheck.Options{SkipAptUpdate: *skipUpdate, Mode: config.ModeBuildImage})
	if err != nil {
		printErr(stderr, err)
		return exitCode(ctx, err, stderr)
	}
	rep.Host = *host
	rep.Table(stdout)
	out := report.Detect(env, io.Discard)
	for _, a := range rep.Annotations() {
		out.Annotate(report.Annotation{Level: a.Level, Title: a.Title, Message: a.Message})
	}
	_ = out.Summary(rep.Markdown())
	if *reportPath != "" {
		f, err := os.Create(*reportPath)
		if err == nil {
			err = rep.WriteJSON(f)
			f.Close()
		}
		if err != nil {
			printErr(stderr, fmt.Errorf("writing the report: %w", err))
			return exitFailed
		}
	}
	return imagecheck.ExitCode(rep, *failOn)
}

// apiFlags are --token and --api-url for the subcommands outside the build
// table (reap, submit). Their defaults stay empty so --help never prints a
// token from the environment; resolve falls back to the aliases the option
// table gives (DIGITALOCEAN_TOKEN, DIGITALOCEAN_ACCESS_TOKEN, DIGITALOCEAN_API_URL).
type apiFlags struct{ token, apiURL *string }

func addAPIFlags(fs *flag.FlagSet) apiFlags {
	return apiFlags{
		token:  fs.String("token", "", "API token (default: env "+strings.Join(envAliases("token"), " or ")+")"),
		apiURL: fs.String("api-url", "", "API base URL (default: env "+strings.Join(envAliases("api-url"), " or ")+", else "+cloud.DefaultAPIURL+")"),
	}
}

// resolve returns the flag values, else the first environment alias set;
// an empty API URL means DigitalOcean's.
func (a apiFlags) resolve(env func(string) string) (token, apiURL string) {
	first := func(v, option string) string {
		for _, name := range envAliases(option) {
			if v != "" {
				break
			}
			v = env(name)
		}
		return v
	}
	return first(*a.token, "token"), first(*a.apiURL, "api-url")
}

func envAliases(option string) []string {
	for _, o := range config.Options() {
		if o.Name == option {
			return o.Env
		}
	}
	return nil
}

// leftovers are what killed runs left behind: found by the tool's tags and names.
type leftovers struct {
	droplets  []godo.Droplet
	keys      []godo.Key
	snapshots []godo.Image
}

func findLeftovers(ctx context.Context, c *cloud.Client, tag string, olderThan time.Duration) (*leftovers, error) {
	g := c.Godo()
	cutoff := time.Now().Add(-olderThan)
	old := func(created string) bool {
		t, err := time.Parse(time.RFC3339, created)
		return err != nil || !t.After(cutoff)
	}
	var l leftovers
	ds, err := c.DropletsByTag(ctx, tag)
	if err != nil {
		return nil, err
	}
	// Runs with a droplet younger than the cutoff: their keys are in use.
	young := map[string]bool{}
	for _, d := range ds {
		if old(d.Created) {
			l.droplets = append(l.droplets, d)
			continue
		}
		for _, t := range d.Tags {
			if strings.HasPrefix(t, pipeline.RunTagPrefix) {
				young[strings.TrimPrefix(t, pipeline.RunTagPrefix)] = true
			}
		}
	}
	keys, _, err := g.Keys.List(ctx, &godo.ListOptions{PerPage: 200})
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	for _, k := range keys {
		// Keys carry no tags and no creation time: the tool names them
		// mp-image-<run id> (mp-image-boot-<run id> for the boot test), so
		// a key goes with its run's tag and is as old as its run's droplets.
		if !strings.HasPrefix(k.Name, "mp-image-") {
			continue
		}
		run := strings.TrimPrefix(strings.TrimPrefix(k.Name, "mp-image-"), "boot-")
		if tag != pipeline.ToolTag && tag != pipeline.RunTagPrefix+run || young[run] {
			continue
		}
		l.keys = append(l.keys, k)
	}
	imgs, _, err := g.Images.ListUser(ctx, &godo.ListOptions{PerPage: 200})
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
	fs := flag.NewFlagSet("reap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := addAPIFlags(fs)
	olderThan := fs.Duration("older-than", time.Hour, "only what was created at least this long ago (a running build is younger)")
	tag := fs.String("tag", pipeline.ToolTag, "tag to look for (a run's tag mp-image-run-<id> narrows it to one run)")
	yes := fs.Bool("yes", false, "delete what was found (default: only list)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	token, apiURL := api.resolve(env)
	c, err := cloud.New(cloud.Options{Token: token, APIURL: apiURL})
	if err != nil {
		printErr(stderr, err)
		return exitUsage
	}
	l, err := findLeftovers(ctx, c, *tag, *olderThan)
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
	if !*yes {
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

// runActionPost is the post-entrypoint safety net: when the main step was
// killed before its own cleanup ran, it deletes what the main step recorded
// in GITHUB_STATE (read back as STATE_*), and every droplet of that run.
func runActionPost(ctx context.Context, _ []string, env func(string) string, stdout, stderr io.Writer) int {
	st := report.ReadState(env)
	if st.Done {
		fmt.Fprintln(stdout, "mp-image post: the main step cleaned up after itself")
		return exitOK
	}
	if st.RunID == "" && st.DropletID == 0 && st.KeyID == 0 {
		fmt.Fprintln(stdout, "mp-image post: nothing recorded, nothing to clean")
		return exitOK
	}
	cfg, _, err := config.Load(nil, env)
	if err != nil {
		printErr(stderr, err)
		return exitFailed
	}
	if st.APIURL != "" {
		cfg.APIURL = st.APIURL
	}
	if cfg.Token == "" {
		fmt.Fprintln(stderr, "mp-image post: no token to clean up with")
		return exitFailed
	}
	c, err := cloud.New(cloud.Options{Token: cfg.Token, APIURL: cfg.APIURL})
	if err != nil {
		printErr(stderr, err)
		return exitFailed
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	failed := false
	ids := map[int]bool{}
	if st.DropletID != 0 {
		ids[st.DropletID] = true
	}
	if st.RunID != "" {
		ds, err := c.DropletsByTag(ctx, pipeline.RunTagPrefix+st.RunID)
		if err != nil {
			printErr(stderr, err)
			failed = true
		}
		for _, d := range ds {
			ids[d.ID] = true
		}
	}
	for id := range ids {
		if _, err := c.Droplet(ctx, id); cloud.StatusOf(err) == 404 {
			continue
		}
		if err := c.DeleteDroplet(ctx, id); err != nil {
			printErr(stderr, err)
			failed = true
			continue
		}
		fmt.Fprintf(stdout, "mp-image post: deleted droplet %d left by the main step\n", id)
	}
	if st.KeyID != 0 {
		if err := c.DeleteKey(ctx, st.KeyID); err != nil {
			printErr(stderr, err)
			failed = true
		} else {
			fmt.Fprintf(stdout, "mp-image post: deleted SSH key %d\n", st.KeyID)
		}
	}
	if st.SnapshotID != 0 {
		fmt.Fprintf(stdout, "mp-image post: snapshot %d was made before the main step was killed; it is kept (delete it with mp-image reap --yes if unwanted)\n", st.SnapshotID)
	}
	if failed {
		return exitFailed
	}
	return exitOK
}
