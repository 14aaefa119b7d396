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
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/digitalocean/godo"

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
	fmt.Fprintf(stdout, "Build steps (%s):\n", cfg.Mode)
	for i, s := range pipeline.Preview(cfg, p) {
		if s.Reason != "" {
			fmt.Fprintf(stdout, "  %2d. %s (skipped: %s)\n", i+1, s.Step, s.Reason)
			continue
		}
		fmt.Fprintf(stdout, "  %2d. %s\n", i+1, s.Step)
	}
	return exitOK
}

// loadCommand reads a subcommand's options through the option table; ok is
// false when the subcommand should exit with code (help printed, or a usage
// error said).
func loadCommand(cmd string, args []string, env func(string) string, stdout, stderr io.Writer) (cfg *config.Config, code int, ok bool) {
	cfg, rest, err := config.LoadCommand(cmd, args, env)
	if errors.Is(err, flag.ErrHelp) {
		config.CommandUsage(cmd, stdout)
		return nil, exitOK, false
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q: options are --name value (run mp-image %s --help)", rest[0], cmd)
	}
	if err != nil {
		printErr(stderr, err)
		return nil, exitUsage, false
	}
	return cfg, exitOK, true
}

func runValidate(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	o, code, ok := loadCommand("validate", args, env, stdout, stderr)
	if !ok {
		return code
	}
	if o.Host == "" || o.SSHKey == "" {
		fmt.Fprintln(stderr, "mp-image: validate needs --host ADDRESS and --ssh-key FILE")
		return exitUsage
	}
	signer, err := remote.LoadPrivateKey(o.SSHKey)
	if err != nil {
		printErr(stderr, err)
		return exitUsage
	}
	cfg := remote.Config{Addr: o.Host, User: o.SSHUser, Signer: signer}
	if _, _, err := net.SplitHostPort(o.Host); err != nil {
		cfg.Addr = net.JoinHostPort(o.Host, "22")
	}
	if o.Sub.HostKey != "" {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(o.Sub.HostKey))
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
	rep, err := imagecheck.Run(ctx, c, imagecheck.Options{SkipAptUpdate: o.Sub.SkipAptUpdate, Mode: config.ModeBuildImage})
	if err != nil {
		printErr(stderr, err)
		return exitCode(ctx, err, stderr)
	}
	rep.Host = o.Host
	rep.Table(stdout)
	if gh := githubSink(env, stdout); gh != nil {
		for _, a := range rep.Annotations() {
			gh.Annotate(report.Annotation{Level: a.Level, Title: a.Title, Message: a.Message})
		}
		if err := gh.Summary(rep.Markdown()); err != nil {
			printErr(stderr, err)
		}
		defer gh.Close()
	} else {
		// The findings (details and fix) follow the table, once; on GitHub
		// they are the annotations.
		c := report.NewConsole(stdout, false, nil)
		for _, a := range rep.Annotations() {
			c.Annotate(report.Annotation{Level: a.Level, Title: a.Title, Message: a.Message})
		}
	}
	if o.Report != "" {
		f, err := os.Create(o.Report)
		if err == nil {
			err = rep.WriteJSON(f)
			f.Close()
		}
		if err != nil {
			printErr(stderr, fmt.Errorf("writing the report: %w", err))
			return exitFailed
		}
	}
	return imagecheck.ExitCode(rep, o.FailOn)
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
	if st.RunID == "" && st.DropletID == 0 && st.KeyID == 0 && st.BootKeyID == 0 && st.SnapshotID == 0 {
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
			if !slices.Contains(d.Tags, pipeline.KeptTag) { // kept on purpose (keep-droplet)
				ids[d.ID] = true
			}
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
	for _, id := range []int{st.KeyID, st.BootKeyID} {
		if id == 0 {
			continue
		}
		if err := c.DeleteKey(ctx, id); err != nil {
			printErr(stderr, err)
			failed = true
		} else {
			fmt.Fprintf(stdout, "mp-image post: deleted SSH key %d\n", id)
		}
	}
	if !postSnapshots(ctx, c, st, cfg.KeepSnapshotOnFailure, stdout, stderr) {
		failed = true
	}
	if failed {
		return exitFailed
	}
	return exitOK
}

// postSnapshots deletes what a killed main step snapshotted, as its own
// cleanup does on cancellation: the recorded snapshot and any still carrying
// the run's tag, unless keep-snapshot-on-failure. It reports success.
func postSnapshots(ctx context.Context, c *cloud.Client, st report.SavedState, keep bool, stdout, stderr io.Writer) bool {
	ids := map[int]bool{}
	if st.SnapshotID != 0 {
		ids[st.SnapshotID] = true
	}
	ok := true
	if st.RunID != "" {
		imgs, err := cloud.All(ctx, func(o *godo.ListOptions) ([]godo.Image, *godo.Response, error) {
			return c.Godo().Images.ListUser(ctx, o)
		})
		if err != nil {
			printErr(stderr, fmt.Errorf("listing snapshots: %w", err))
			ok = false
		}
		for _, im := range imgs {
			if slices.Contains(im.Tags, pipeline.RunTagPrefix+st.RunID) {
				ids[im.ID] = true
			}
		}
	}
	for id := range ids {
		if keep {
			fmt.Fprintf(stdout, "mp-image post: snapshot %d made before the main step was killed is kept (keep-snapshot-on-failure)\n", id)
			continue
		}
		if err := c.DeleteImage(ctx, id); err != nil && cloud.StatusOf(err) != 404 {
			printErr(stderr, err)
			ok = false
			continue
		}
		fmt.Fprintf(stdout, "mp-image post: deleted snapshot %d made before the main step was killed (set keep-snapshot-on-failure to keep it)\n", id)
	}
	return ok
}
