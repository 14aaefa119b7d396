package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/remote"
)

// TestUFWLimitLockout is the root cause of issue 14's flaky fixture: a droplet
// booted from a snapshot with `ufw limit ssh` refused SSH for 3 minutes under
// load. While sshd is not up yet, each refused attempt still counts against
// ufw's limit (6 new connections in 30 s); a client retrying faster than that
// refreshes the count with every attempt and stays locked out for good, long
// after sshd is up. Spaced by remote.UFWLimitInterval from the first attempt
// it gets in, and spaced by remote.UFWLockoutEscape once refusals last 30 s,
// it gets out of a lockout that is already there (TestExistingHost's
// --host build was once locked out by the test's own connections). The load
// only made sshd late enough for the sixth attempt. (About 3.5 minutes.)
func TestUFWLimitLockout(t *testing.T) {
	need(t)
	t.Cleanup(func() { requireNothingLeft(t) })
	d := boot(t, godo.DropletCreateImage{Slug: "debian-12-x64"}, "ufw-limit")
	if out, err := d.run(t, "ufw limit ssh >/dev/null && ufw --force enable >/dev/null && ufw status"); err != nil || !strings.Contains(out, "LIMIT") {
		t.Fatalf("enabling ufw limit ssh: %v\n%s", err, out)
	}
	d.client.Close()
	d.client = nil
	ctx := context.Background()
	host := func(args ...string) {
		t.Helper()
		if out, err := env.backend.Exec(ctx, d.id, args...); err != nil {
			t.Fatalf("%v through the host: %v\n%s", args, err, out)
		}
	}
	cfg := remote.Config{Addr: d.ip, Signer: d.signer, HostKey: d.hostKey, DialTimeout: 5 * time.Second}
	dial := func(within time.Duration, interval time.Duration) error {
		c := cfg
		c.DialInterval = interval
		dctx, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		cl, err := remote.DialRetry(dctx, c)
		if err == nil {
			cl.Close()
		}
		return err
	}
	// sshd late, as on a loaded machine: the plain backoff retries meanwhile.
	host("systemctl", "stop", "ssh.service")
	if err := dial(12*time.Second, 0); err == nil {
		t.Fatal("connected while sshd was stopped")
	}
	host("systemctl", "start", "ssh.service")
	// sshd is up now, but the client keeps itself locked out.
	err := dial(40*time.Second, 0)
	if err == nil {
		t.Fatal("the fast retries got in: the lockout that made the fixture flaky did not happen")
	}
	if diag := diagnose(d.id); !strings.Contains(diag, "sshd") || !strings.Contains(diag, "ufw-user-limit") {
		t.Errorf("the diagnosis does not show sshd and ufw's limit chain:\n%s", diag)
	}
	t.Logf("fast retries after sshd started: %v", err)
	// From inside that lockout, dialled as the tool dials a server that may
	// have the limit (--host, the boot test): 7 s spacing alone keeps the
	// lockout going, the escape spacing after 30 s of refusals gets in.
	escape := time.Now()
	if err := dial(100*time.Second, remote.UFWLimitInterval); err != nil {
		t.Fatalf("spaced retries from inside the lockout did not get in: %v\n%s", err, diagnose(d.id))
	}
	t.Logf("out of the lockout after %s", time.Since(escape).Round(time.Second))
	// The same late sshd, dialled as the tool and the fixtures now dial:
	// spaced by UFWLimitInterval from the first attempt, at most 5 in any
	// 30 s, so the limit never trips. (A lockout, once there, outlives 7 s
	// spacing: a rejected attempt counts twice. Let this one expire first.)
	time.Sleep(31 * time.Second)
	host("systemctl", "stop", "ssh.service")
	started := make(chan struct{})
	go func() {
		defer close(started)
		time.Sleep(20 * time.Second)
		env.backend.Exec(ctx, d.id, "systemctl", "start", "ssh.service")
	}()
	defer func() { <-started }()
	if err := dial(90*time.Second, remote.UFWLimitInterval); err != nil {
		t.Fatalf("spaced retries did not get in: %v\n%s", err, diagnose(d.id))
	}
}
