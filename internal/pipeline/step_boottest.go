package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/errlist"
	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/retry"
)

// bootTest simulates the Marketplace review: a droplet made FROM the new
// snapshot on the smallest plan, first boot awaited (per-instance scripts
// done, the "please wait" ForceCommand gone), the checks re-run with a fresh
// apt update, and the recipe's verify/ scripts run. A failure fails the
// build, but the snapshot is kept and reported (Build.BootTestFailed).
type bootTest struct{}

// bootTestSize is the smallest plan: reviewers boot images on it.
const bootTestSize = "s-1vcpu-1gb"

// probeInterval spaces new SSH connections below ufw's limit rule
// (at most 5 new connections per 30 s from one address).
const probeInterval = remote.UFWLimitInterval

// firstBootTimeout bounds waiting for cloud-init and the ForceCommand's removal.
const firstBootTimeout = 10 * time.Minute

// bootTestState is what the boot test made, so Cleanup can undo it.
type bootTestState struct {
	kp      *remote.KeyPair // its account key may exist even when key is nil (answer lost)
	name    string          // its droplet's name, likewise
	key     *godo.Key
	droplet *godo.Droplet
	ssh     *remote.Client
}

func (bootTest) String() string { return "boot test (review simulation)" }
func (bootTest) Declare() Decl  { return Decl{Needs: OptBootTest | API | Snapshot} }

// failed records the outcome: the released snapshot is kept and reported.
func (bootTest) failed(b *Build) { b.BootTestFailed = true }

func (bootTest) Run(ctx context.Context, b *Build) error {
	c, ip, err := bootDroplet(ctx, b, "boot test")
	if err != nil {
		return err
	}

	// What any running droplet makes by itself (logs, /tmp, root's
	// authorized_keys holding only this key) is expected, not held against
	// the image; the build key, the agent, updates, the firewall still count.
	rep, err := imagecheck.Run(ctx, c, imagecheck.Options{Mode: "build_image", BuildKey: buildKey(b), Booted: true, BootKey: "mp-image-boot-" + b.RunID})
	if err != nil {
		return fmt.Errorf("running the checks on the booted droplet: %w", err)
	}
	rep.Host = ip
	var sb strings.Builder
	rep.Table(&sb)
	for _, l := range strings.Split(strings.TrimRight(sb.String(), "\n"), "\n") {
		b.Out.Log("[boot-test] " + l)
	}
	for _, a := range rep.Annotations() {
		b.Out.Annotate(report.Annotation{Level: a.Level, Title: "boot test: " + a.Title, Message: a.Message})
	}
	failOn := b.Cfg.FailOn
	if failOn == "" {
		failOn = "fail"
	}
	var errs []error
	if rep.Failed(failOn) {
		errs = append(errs, fmt.Errorf("validation of the booted droplet: %s under fail-on=%s (as a reviewer would see it, after a fresh apt update)", rep.Totals(), failOn))
	}
	b.note("validation " + rep.Totals())

	failed, err := runVerifyAll(ctx, b, c)
	if err != nil {
		return err
	}
	errs = append(errs, failed...)
	if err := errlist.Join(errs...); err != nil {
		return err
	}
	if b.Plan != nil && len(b.Plan.Verify) > 0 {
		b.note(fmt.Sprintf("%d verify script(s) passed", len(b.Plan.Verify)))
	}
	return nil
}

// bootDroplet makes a droplet FROM b.Snapshot on the smallest plan that holds
// it, with a key and a pinned host key of its own, tagged with the run (so
// reap finds it), and waits until first boot is done. What it made is in
// b.boot for bootTest's Cleanup, which every caller's Cleanup must run.
func bootDroplet(ctx context.Context, b *Build, role string) (c *remote.Client, ip string, err error) {
	st := &bootTestState{}
	b.boot = st

	kp, err := remote.NewKeyPair("mp-image-boot-" + b.RunID)
	if err != nil {
		return nil, "", err
	}
	st.kp, st.name = kp, "mp-image-boot-"+b.RunID
	hk, err := remote.NewHostKey()
	if err != nil {
		return nil, "", err
	}
	fctx, done := finishCreate(ctx)
	k, err := b.Cloud.CreateKey(fctx, KeyName(b.RunID, true, time.Now()), kp.AuthorizedKey, kp.Fingerprint())
	done()
	if k != nil {
		st.key = k
		// The post step deletes it if this process is killed before Cleanup.
		b.Out.State(report.StateBootKeyID, fmt.Sprint(k.ID))
	}
	if err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}

	size, err := bootSize(ctx, b)
	if err != nil {
		return nil, "", err
	}
	no := false
	req := &godo.DropletCreateRequest{
		Name:             st.name,
		Region:           b.Cfg.Region,
		Size:             size,
		Image:            godo.DropletCreateImage{ID: b.Snapshot.ID},
		SSHKeys:          []godo.DropletCreateSSHKey{{ID: k.ID}},
		UserData:         hk.CloudConfig(),
		Tags:             []string{ToolTag, b.RunTag},
		WithDropletAgent: &no,
	}
	fctx, done = finishCreate(ctx)
	d, err := b.Cloud.CreateDroplet(fctx, req, b.RunTag)
	done()
	if d != nil {
		st.droplet = d
	}
	if err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	b.logf("%s: droplet %d (%s) from snapshot %d", role, d.ID, size, b.Snapshot.ID)
	actx, cancel := withTimeout(ctx, b.Cfg.Timeouts.Active)
	d, err = b.Cloud.WaitActive(actx, d.ID)
	cancel()
	if d != nil {
		st.droplet = d
	}
	if err != nil {
		return nil, "", err
	}
	ip, _ = d.PublicIPv4()

	sctx, cancel := withTimeout(ctx, b.Cfg.Timeouts.SSH)
	c, err = remote.DialRetry(sctx, remote.Config{
		Addr: net.JoinHostPort(ip, "22"), User: "root", Signer: kp.Signer, HostKey: hk.Public, Logf: b.Logf, Timing: b.Timing, Dial: b.dial,
		// The image may enable `ufw limit ssh` from its first boot: retries
		// faster than this lock it out for good.
		DialInterval: remote.UFWLimitInterval,
	})
	cancel()
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the %s droplet: %w", role, err)
	}
	st.ssh = c

	if err := waitFirstBoot(ctx, b, c); err != nil {
		return nil, "", err
	}
	return c, ip, nil
}

// bootSize is the smallest plan whose disk holds the snapshot.
func bootSize(ctx context.Context, b *Build) (string, error) {
	if b.Snapshot.MinDiskSize <= smallestDisk {
		return bootTestSize, nil
	}
	sizes, _, err := b.Cloud.Godo().Sizes.List(ctx, &godo.ListOptions{PerPage: 200})
	if err != nil {
		return "", fmt.Errorf("listing sizes for the boot test: %w", err)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i].PriceMonthly < sizes[j].PriceMonthly })
	for _, s := range sizes {
		if s.Available && s.Disk >= b.Snapshot.MinDiskSize && containsStr(s.Regions, b.Cfg.Region) {
			return s.Slug, nil
		}
	}
	return "", fmt.Errorf("no size in %s has a %d GB disk for the boot test", b.Cfg.Region, b.Snapshot.MinDiskSize)
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// waitFirstBoot waits until root gets a normal shell (the "please wait"
// ForceCommand answers every command until the per-instance script removes
// it), then until cloud-init is done. When first boot reports an error,
// cloud-init's output log (where per-instance scripts print) is shown.
func waitFirstBoot(ctx context.Context, b *Build, c *remote.Client) error {
	ctx, cancel := context.WithTimeout(ctx, firstBootTimeout)
	defer cancel()
	var last string
	for {
		out, _, _, err := c.Output(ctx, "echo ready")
		last = strings.TrimSpace(string(out))
		if err == nil && last == "ready" {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("first boot not done after %s: root still gets %q instead of a shell (the per-instance script that removes the \"please wait\" ForceCommand did not finish)", firstBootTimeout, last)
		}
		// Probes are spaced so that images with `ufw limit ssh` (6 new
		// connections in 30 s are rejected) never lock the boot test out.
		if err := retry.Sleep(ctx, probeInterval); err != nil {
			return fmt.Errorf("first boot not done after %s: root still gets %q instead of a shell", firstBootTimeout, last)
		}
		// sshd applies its config per connection: a connection made while the
		// "please wait" ForceCommand was in place keeps it after the
		// per-instance script removed it and restarted ssh. Ask anew on a new
		// connection (a refusal while sshd restarts is retried next round).
		if rerr := c.Reconnect(ctx); rerr != nil {
			b.logf("boot test: reconnecting while first boot runs: %v", rerr)
		}
	}
	out, _, code, err := c.Output(ctx, "command -v cloud-init >/dev/null 2>&1 || exit 127; cloud-init status --wait >/dev/null 2>&1; echo $?")
	if err != nil && code != 127 {
		return fmt.Errorf("waiting for cloud-init on the booted droplet: %w", err)
	}
	if code == 127 {
		return errors.New("cloud-init is not installed on the booted droplet: the Marketplace requires it")
	}
	st := strings.TrimSpace(string(out))
	if st == "0" {
		return nil
	}
	long, _, _, _ := c.Output(ctx, "cloud-init status --long 2>&1 | tail -n 40")
	for _, l := range strings.Split(strings.TrimRight(string(long), "\n"), "\n") {
		b.Out.Output("boot-test cloud-init status", l)
	}
	logOut, _, _, _ := c.Output(ctx, "tail -n 200 /var/log/cloud-init-output.log 2>&1")
	b.Out.Log("[boot-test] /var/log/cloud-init-output.log of the booted droplet (last 200 lines):")
	for _, l := range strings.Split(strings.TrimRight(string(logOut), "\n"), "\n") {
		b.Out.Output("boot-test cloud-init-output", l)
	}
	scriptsFailed := strings.Contains(string(long), "scripts_per_instance") || strings.Contains(string(long), "scripts-per-instance") ||
		strings.Contains(string(logOut), "Failed running /var/lib/cloud/scripts/per-instance")
	if st == "2" && !scriptsFailed {
		b.Out.Annotate(warning("boot test", "cloud-init finished first boot with recoverable errors (exit 2); see the cloud-init output above"))
		return nil
	}
	return fmt.Errorf("first boot of the snapshot failed (cloud-init status exit %s): a per-instance script or cloud-init failed; its output is above", st)
}

// runVerifyAll runs every verify/ script on c, annotating each failure; it
// returns the failures ("name: error"), or err when the run was cancelled.
func runVerifyAll(ctx context.Context, b *Build, c *remote.Client) (failed []error, err error) {
	if b.Plan == nil {
		return nil, nil
	}
	for i, a := range b.Plan.Verify {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := runVerify(ctx, b, c, i, a); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			b.Out.Annotate(report.Annotation{Level: "error", File: a.File, Line: a.Line, Title: a.Name + " failed", Message: err.Error()})
			failed = append(failed, fmt.Errorf("%s: %w", a.Name, err))
		}
	}
	return failed, nil
}

// runVerify uploads a verify/ script and runs it like a provisioning script,
// its output prefixed "[verify/..]".
func runVerify(ctx context.Context, b *Build, c *remote.Client, i int, a recipe.Action) error {
	b.Out.Log("-> " + a.Name)
	p := fmt.Sprintf("/tmp/mp-image-verify-%s-%03d.sh", b.RunID, i)
	if err := c.WriteFile(ctx, p, a.Script, 0o700); err != nil {
		return fmt.Errorf("uploading the script: %w", err)
	}
	timeout := a.Timeout
	if timeout == 0 {
		timeout = b.Cfg.Timeouts.Script
	}
	cmd, err := scriptCommand(ctx, b, c, a, p)
	if err != nil {
		return err
	}
	err = c.Run(ctx, cmd, b.outputTo(a.Name, remote.RunOptions{Name: a.Name, IdleTimeout: idle(b), Timeout: timeout}))
	var ee *remote.ExitError
	if err != nil && !(errors.As(err, &ee) && a.ExitOK(ee.Code)) {
		return err
	}
	_, _, _, rmErr := c.Output(ctx, "rm -f "+p)
	return rmErr
}

// Cleanup deletes the boot-test droplet and key, verified gone, always.
func (bootTest) Cleanup(ctx context.Context, b *Build) error {
	st := b.boot
	if st == nil {
		return nil
	}
	b.boot = nil
	if st.ssh != nil {
		st.ssh.Close()
		st.ssh = nil
	}
	var errs []error
	known := st.droplet != nil
	if st.droplet != nil {
		id := st.droplet.ID
		if err := b.deleteDropletLater(ctx, id, func() { b.logf("deleted boot-test droplet %d", id) }); err != nil {
			errs = append(errs, err)
		}
	}
	if !known && st.name != "" {
		// Its create may have taken effect with the answer lost (cancelled mid-request).
		if err := deleteLostDroplets(ctx, b, st.name); err != nil {
			errs = append(errs, err)
		}
	}
	if st.key != nil {
		if err := b.deleteKeyLater(ctx, st.key.ID, nil); err != nil {
			errs = append(errs, err)
		}
	} else if err := deleteLostKey(ctx, b, st.kp); err != nil {
		errs = append(errs, err)
	}
	if b.BootTestFailed && b.Snapshot != nil && !b.Cancelled {
		b.Out.Annotate(report.Annotation{Level: "notice", Title: "boot test", Message: fmt.Sprintf(
			"snapshot %d (%s) is kept despite the failed boot test, so nothing is lost: fix the recipe and rebuild, or delete it", b.Snapshot.ID, b.Snapshot.Name)})
	}
	return errlist.Join(errs...)
}
