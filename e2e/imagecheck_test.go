package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/cleanup"
	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/imagecheck/aptrepo"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/shell"
)

// Issue 4, "how it is checked": fixture droplets on the shared local cloud
// (real nspawn machines, real sshd, real cloud-init), each brought to a clean
// baseline the way a build does (apt full-upgrade, a firewall, application.info,
// then the tool's own cleanup over the open connection) and then broken in
// exactly one rule. Every rule id of the report must have the verdict the
// rule table gives for the broken rule, and PASS everywhere else.
//
// How each fixture is validated, and why:
//   - a build validates over its open connection after the cleanup removed
//     authorized_keys, so no new login is possible: the fixtures whose
//     baseline has no authorized_keys run imagecheck.Run over that same open
//     connection, with the build key, exactly as the pipeline's validate step;
//   - the root-authorized_keys fixture can be logged into, so it goes through
//     the real user path: `mp-image validate --host --ssh-key --host-key
//     --report` with the key that fixture authorizes (the binary passes no
//     build key, so its report has no build-key line).
//
// The provisioning part of the baseline (apt full-upgrade, ufw, application.info)
// is done once on a base droplet that is snapshotted powered off; each fixture
// boots from that snapshot (fresh instance: cloud-init installs its key and
// pinned host key) and runs the cleanup itself. After every cleanup the test
// also looks for the build key in every authorized_keys file on the machine,
// without imagecheck. The pending security update is served over HTTP by the
// test (see runSecurityUpdateFixture). Cost: about 1.5 min on an idle 2-core
// machine, 3 min under heavy load; droplets, keys and the snapshot are deleted
// in t.Cleanup and checked gone in the ledger.

// fixtureStage says when a fixture breaks its rule.
type fixtureStage int

const (
	// beforeCleanup: as a recipe's last script would; for what the cleanup
	// does not touch (so the test also shows the cleanup leaves it alone).
	beforeCleanup fixtureStage = iota
	// afterCleanup: a late write after the cleanup, for what the cleanup
	// removes (authorized_keys, history, logs, /opt/digitalocean).
	afterCleanup
)

type imageFixture struct {
	name  string
	stage fixtureStage
	// breakCmd breaks the rule (run as root with sh -c); empty for the clean one.
	breakCmd string
	// want is the verdict of each broken rule id; every other id must PASS.
	want map[string]imagecheck.Status
	// users are the users besides root whose per-user rules must be reported.
	users []string
	// viaBinary validates with `mp-image validate` (root's authorized_keys
	// then holds altKey, which it logs in with).
	viaBinary bool
	// wantBeforeCleanup, when set, is checked by a validation between the
	// break and the cleanup (only these ids: a machine not yet cleaned has
	// more to report), to show the break took before the cleanup undid it.
	wantBeforeCleanup map[string]imagecheck.Status
	// securityUpdate runs the pending-security-update scenario instead.
	securityUpdate bool
}

// perUser is the per-user rule ids imagecheck reports for every user.
var perUser = []string{"password", "authorized-keys", "private-key", "ssh-files", "bash-history"}

// systemRules are reported once per machine, whatever the fixture.
var systemRules = []string{"run-as-root", "os-family", "os-version", "cloud-init", "firewall", "security-updates",
	"log-archives", "log-files", "do-agent", "per-instance-scripts", "forcecommand", "motd", "tmp", "application-info",
	"machine-id", "random-seed"}

func imageFixtures() []imageFixture {
	const user, svc = "fixtureuser", "fixturesvc"
	return []imageFixture{
		{name: "clean"},
		{name: "root-password", breakCmd: `echo 'root:Fixture-Pass-1' | chpasswd`,
			want: map[string]imagecheck.Status{"password:root": imagecheck.Fail}},
		{name: "root-authorized-keys", stage: afterCleanup, viaBinary: true,
			want: map[string]imagecheck.Status{"authorized-keys:root": imagecheck.Fail}},
		// ssh-keygen also writes id_rsa.pub, which is another rule (other
		// files in ~/.ssh: WARN): only the private key is kept.
		{name: "root-id-rsa", breakCmd: `ssh-keygen -q -t ed25519 -N '' -C fixture -f /root/.ssh/id_rsa && rm -f /root/.ssh/id_rsa.pub`,
			want: map[string]imagecheck.Status{"private-key:root": imagecheck.Fail}},
		{name: "root-bash-history", stage: afterCleanup,
			breakCmd: `for i in $(seq 1 20); do echo "apt-get install secret-thing-$i"; done > /root/.bash_history`,
			want:     map[string]imagecheck.Status{"bash-history:root": imagecheck.Fail}},
		{name: "log-archives", stage: afterCleanup,
			breakCmd: `echo 'Nov 26 rotated line' > /var/log/syslog.1 && echo old > /var/log/messages-20261101`,
			want:     map[string]imagecheck.Status{"log-archives": imagecheck.Warn}},
		{name: "big-log", stage: afterCleanup,
			breakCmd: `for i in 1 2 3 4; do echo "fixture log line $i written after the cleanup"; done > /var/log/fixture.log`,
			want:     map[string]imagecheck.Status{"log-files": imagecheck.Warn}},
		{name: "opt-digitalocean", stage: afterCleanup,
			breakCmd: `mkdir -p /opt/digitalocean/bin && echo agent > /opt/digitalocean/bin/droplet-agent`,
			want:     map[string]imagecheck.Status{"do-agent": imagecheck.Fail}},
		// dpkg --purge, as a recipe removing the package would; the
		// cleanup's autoremove then takes its dependencies.
		{name: "no-cloud-init", breakCmd: `DEBIAN_FRONTEND=noninteractive dpkg --purge cloud-init >/dev/null`,
			want: map[string]imagecheck.Status{"cloud-init": imagecheck.Fail}},
		{name: "ufw-inactive", breakCmd: `ufw disable >/dev/null`,
			want: map[string]imagecheck.Status{"firewall": imagecheck.Warn}},
		// Debian 8 is a supported family in an unsupported release: only
		// os-version breaks (another NAME would fail os-family and, by the
		// table, os-version with it).
		{name: "unsupported-os-release",
			breakCmd: `sed 's/^VERSION_ID=.*/VERSION_ID="8"/' /usr/lib/os-release > /etc/os-release.new && mv /etc/os-release.new /etc/os-release`,
			want:     map[string]imagecheck.Status{"os-version": imagecheck.Fail}},
		{name: "user-password", users: []string{user},
			breakCmd: `useradd -m -s /bin/bash ` + user + ` && echo '` + user + `:Fixture-Pass-2' | chpasswd`,
			want:     map[string]imagecheck.Status{"password:" + user: imagecheck.Fail}},
		// The user is made as a recipe would (password locked by useradd);
		// its key is written after the cleanup, which deletes users' keys.
		{name: "user-authorized-keys", stage: afterCleanup, users: []string{user},
			breakCmd: `useradd -m -s /bin/bash ` + user + ` && install -d -m 700 -o ` + user + ` -g ` + user + ` /home/` + user + `/.ssh && ` +
				`printf '%s\n' "$ALT_KEY" > /home/` + user + `/.ssh/authorized_keys && chown ` + user + `: /home/` + user + `/.ssh/authorized_keys`,
			want: map[string]imagecheck.Status{"authorized-keys:" + user: imagecheck.Fail}},
		// The table's root row beyond the list: an empty password
		// field FAILs too; known_hosts over 50 bytes and an empty id_rsa WARN.
		{name: "root-empty-password", breakCmd: `passwd -d root >/dev/null`,
			want: map[string]imagecheck.Status{"password:root": imagecheck.Fail}},
		{name: "root-known-hosts", stage: afterCleanup,
			breakCmd: `install -d -m 700 /root/.ssh && printf 'github.com %s\n' "$ALT_KEY" > /root/.ssh/known_hosts`,
			want:     map[string]imagecheck.Status{"ssh-files:root": imagecheck.Warn}},
		{name: "root-empty-id-rsa", breakCmd: `install -d -m 700 /root/.ssh && : > /root/.ssh/id_rsa`,
			want: map[string]imagecheck.Status{"private-key:root": imagecheck.Warn}},
		// Another NAME is one change to os-release, but by the table it
		// fails both the family and (as "other") the version rule.
		{name: "unsupported-os-family",
			breakCmd: `sed -e 's/^NAME=.*/NAME="Arch Linux"/' -e 's/^ID=.*/ID=arch/' /usr/lib/os-release > /etc/os-release.new && mv /etc/os-release.new /etc/os-release`,
			want:     map[string]imagecheck.Status{"os-family": imagecheck.Fail, "os-version": imagecheck.Fail}},
		// Every fixture above that breaks its rule after the cleanup, done
		// before it instead (plus files in /tmp): the tool's cleanup must
		// leave a clean image, everything PASS.
		{name: "cleanup-fixes-all", users: []string{user},
			breakCmd: `set -e
useradd -m -s /bin/bash ` + user + `
for h in /root /home/` + user + `; do
	install -d -m 700 $h/.ssh
	printf '%s\n' "$ALT_KEY" > $h/.ssh/authorized_keys
	for i in $(seq 1 20); do echo "apt-get install secret-thing-$i"; done > $h/.bash_history
done
chown -R ` + user + `: /home/` + user + `
useradd -r -m -d /var/lib/` + svc + ` -s /bin/sh ` + svc + `
install -d -m 700 -o ` + svc + ` /var/lib/` + svc + `/.ssh
printf '%s\n' "$BUILD_KEY" "$ALT_KEY" > /var/lib/` + svc + `/.ssh/authorized_keys
echo 'rotated line' > /var/log/syslog.1
echo old > /var/log/messages-20261101
echo 'old' | gzip > /var/log/dpkg.log.2.gz
for i in 1 2 3 4; do echo "fixture log line $i written before the cleanup"; done > /var/log/fixture.log
mkdir -p /opt/digitalocean/bin && echo agent > /opt/digitalocean/bin/droplet-agent
echo leftover > /tmp/build-leftover && mkdir -p /var/tmp/build-dir && echo x > /var/tmp/build-dir/f
rm -f /var/lib/dbus/machine-id && cp /etc/machine-id /var/lib/dbus/machine-id
head -c 512 /dev/urandom > /var/lib/systemd/random-seed`,
			wantBeforeCleanup: map[string]imagecheck.Status{"authorized-keys:root": imagecheck.Fail, "authorized-keys:" + user: imagecheck.Fail,
				"bash-history:root": imagecheck.Fail, "bash-history:" + user: imagecheck.Fail, "build-key": imagecheck.Fail,
				"log-archives": imagecheck.Warn, "log-files": imagecheck.Warn, "do-agent": imagecheck.Fail, "tmp": imagecheck.Warn,
				// A booted droplet has its machine-id: the cleanup must empty it.
				"machine-id": imagecheck.Fail, "random-seed": imagecheck.Warn}},
		// The build's own key copied to a system account (the recipe's
		// `cp /root/.ssh/authorized_keys ~svc/.ssh/`) after the cleanup: the
		// stricter build-key rule must FAIL (img_check never looks there).
		{name: "build-key-system-user", stage: afterCleanup,
			breakCmd: `useradd -r -m -d /var/lib/` + svc + ` -s /bin/sh ` + svc + ` && install -d -m 700 -o ` + svc + ` /var/lib/` + svc + `/.ssh && ` +
				`printf '%s\n' "$BUILD_KEY" > /var/lib/` + svc + `/.ssh/authorized_keys`,
			want: map[string]imagecheck.Status{"build-key": imagecheck.Fail}},
		// Something (a late systemd-machine-id-setup, a copied file) gives the
		// image an ID after the cleanup emptied it. (D-Bus's copy: unit tests,
		// and cleanup-fixes-all below.)
		{name: "machine-id", stage: afterCleanup, breakCmd: `systemd-machine-id-setup >/dev/null 2>&1 || cat /proc/sys/kernel/random/uuid | tr -d - > /etc/machine-id`,
			want: map[string]imagecheck.Status{"machine-id": imagecheck.Fail}},
		{name: "random-seed", stage: afterCleanup, breakCmd: `mkdir -p /var/lib/systemd && head -c 512 /dev/urandom > /var/lib/systemd/random-seed`,
			want: map[string]imagecheck.Status{"random-seed": imagecheck.Warn}},
		{name: "pending-security-update", securityUpdate: true,
			want: map[string]imagecheck.Status{"security-updates": imagecheck.Fail}},
	}
}

// verdictRow is one printed line of the verdict table.
type verdictRow struct {
	fixture, rule  string
	want, got      imagecheck.Status
	others, passed int // for the "all other rules" line
}

// fixtureParallel bounds how many fixture droplets run at once (2 shared cores).
const fixtureParallel = 4

// TestImageCheckFixtures runs every fixture and prints the verdict table.
func TestImageCheckFixtures(t *testing.T) {
	need(t)
	requireNothingLeft(t)
	snaps0 := liveSnapshots()
	start := time.Now()
	var (
		mu       sync.Mutex
		rows     []verdictRow
		ran      int
		baseTook time.Duration
	)
	t.Cleanup(func() {
		requireNothingLeft(t)
		for id := range liveSnapshots() {
			if !snaps0[id] {
				t.Errorf("left behind: snapshot %s", id)
			}
		}
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].fixture < rows[j].fixture })
		var b strings.Builder
		fmt.Fprintf(&b, "\n%-32s %-26s %-8s %-8s\n", "fixture", "rule", "expected", "got")
		for _, r := range rows {
			if r.rule == "" {
				fmt.Fprintf(&b, "%-32s %-26s %-8s %-8s\n", r.fixture, fmt.Sprintf("(%d other rules)", r.others), "PASS", fmt.Sprintf("%d/%d PASS", r.passed, r.others))
				continue
			}
			fmt.Fprintf(&b, "%-32s %-26s %-8s %-8s\n", r.fixture, r.rule, r.want, r.got)
		}
		fmt.Fprintf(&b, "%d fixtures, %d at a time, in %.0fs (baseline snapshot %.0fs)\n", ran, fixtureParallel, time.Since(start).Seconds(), baseTook.Seconds())
		t.Log(b.String())
	})
	image, took := baseSnapshot(t)
	baseTook = took
	t.Logf("baseline snapshot %d made in %.0fs", image, baseTook.Seconds())
	sem := make(chan struct{}, fixtureParallel)
	record := func(rs ...verdictRow) {
		mu.Lock()
		defer mu.Unlock()
		rows = append(rows, rs...)
	}
	// Subtests run from goroutines, fixtureParallel at a time, rather than
	// with t.Parallel: go test's -parallel defaults to GOMAXPROCS (2 here),
	// and a fixture mostly waits on its machine, not on a core.
	var wg sync.WaitGroup
	for _, fx := range imageFixtures() {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t.Run(fx.name, func(t *testing.T) {
				mu.Lock()
				ran++
				mu.Unlock()
				runImageFixture(t, image, fx, record)
			})
		}()
	}
	wg.Wait()
}

// fixtureMachine is one fixture droplet and the open connection to it.
type fixtureMachine struct {
	d   *testDroplet
	c   *remote.Client
	alt *remote.KeyPair // a key that is not the build's, for authorized_keys fixtures
}

func runImageFixture(t *testing.T, image int, fx imageFixture, record func(...verdictRow)) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	m := startFixture(ctx, t, godo.DropletCreateImage{ID: image}, fx.name)
	m.mustRun(ctx, t, "wait for cloud-init", "cloud-init status --wait >/dev/null 2>&1 || [ $? -eq 2 ]")
	tBoot := time.Since(t0)
	defer func() { t.Logf("boot %.0fs, total %.0fs", tBoot.Seconds(), time.Since(t0).Seconds()) }()
	if fx.securityUpdate {
		runSecurityUpdateFixture(ctx, t, fx, m, record)
		return
	}
	breakRule := func() {
		m.mustRun(ctx, t, "break "+fx.name, "ALT_KEY="+shell.Quote(m.alt.AuthorizedKey)+" BUILD_KEY="+shell.Quote(m.d.key.AuthorizedKey)+"; export ALT_KEY BUILD_KEY\n"+fx.breakCmd)
	}
	if fx.stage == beforeCleanup && fx.breakCmd != "" {
		breakRule()
	}
	if fx.viaBinary {
		// `validate` must log in anew; cleanup deleted the host keys
		// (each droplet made from the image makes its own), so sshd
		// would refuse every new connection. The droplet's own keys are
		// put back from /run (not part of the image) after the cleanup:
		// host keys are no img_check rule.
		m.mustRun(ctx, t, "keep host keys", "mkdir -p /run/mpi-hostkeys && cp -a /etc/ssh/ssh_host_* /run/mpi-hostkeys/")
	}
	if fx.wantBeforeCleanup != nil {
		rep := m.check(ctx, t)
		got := map[string]imagecheck.Result{}
		for _, x := range rep.Results {
			got[x.ID] = x
		}
		var rows []verdictRow
		for id, want := range fx.wantBeforeCleanup {
			if got[id].Status != want {
				t.Errorf("before the cleanup, rule %s: %q, want %s: the break did not take\n  details: %s", id, got[id].Status, want, strings.Join(got[id].Details, "\n    "))
			}
			rows = append(rows, verdictRow{fixture: fx.name + " (before)", rule: id, want: want, got: got[id].Status})
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].rule < rows[j].rule })
		record(rows...)
	}
	m.cleanup(ctx, t)
	m.requireBuildKeyGone(ctx, t)
	if fx.stage == afterCleanup && fx.breakCmd != "" {
		breakRule()
	}
	var rep *imagecheck.Report
	if fx.viaBinary {
		m.mustRun(ctx, t, "restore host keys", "cp -a /run/mpi-hostkeys/* /etc/ssh/ && rm -rf /run/mpi-hostkeys")
		m.mustRun(ctx, t, "authorize a key", "install -d -m 700 /root/.ssh && printf '%s\\n' "+shell.Quote(m.alt.AuthorizedKey)+" > /root/.ssh/authorized_keys")
		// A FAIL makes validate exit 1, as img_check.sh does.
		rep = m.validateWithBinary(t, 1)
	} else {
		rep = m.check(ctx, t)
	}
	record(compareVerdicts(t, fx.name, rep, fx.want, expectedIDs(fx, !fx.viaBinary))...)
}

// baseSnapshot provisions one droplet the way a build does before its
// cleanup (baselineScript) and snapshots it, powered off, so each fixture
// boots provisioned instead of upgrading on its own (a full-upgrade takes
// most of a minute here). The cleanup is not part of it: every fixture runs
// the tool's cleanup itself over its own open connection.
func baseSnapshot(t *testing.T) (int, time.Duration) {
	t.Helper()
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	m := startFixture(ctx, t, godo.DropletCreateImage{Slug: "debian-12-x64"}, "base")
	m.mustRun(ctx, t, "baseline", baselineScript)
	m.c.Close()
	t.Logf("base droplet provisioned in %.0fs", time.Since(t0).Seconds())
	api, err := cloud.New(cloud.Options{Token: env.token, APIURL: env.srv.URL(),
		// The local cloud's timings, as the pipeline sets them for a local API.
		ExpectActive: 3 * time.Second, ExpectShutdown: 2 * time.Second, ExpectSnapshot: 5 * time.Second, ExpectTransfer: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Shutdown(ctx, m.d.id, 2*time.Minute); err != nil {
		t.Fatalf("shutting down the base droplet: %v", err)
	}
	t.Logf("base droplet off after %.0fs", time.Since(t0).Seconds())
	img, err := api.Snapshot(ctx, m.d.id, fmt.Sprintf("imgcheck-base-%d", time.Now().UnixNano()), 0)
	if err != nil {
		t.Fatalf("snapshot of the base droplet: %v", err)
	}
	t.Cleanup(func() { env.godo.Images.Delete(context.Background(), img.ID) })
	t.Logf("base snapshot %d after %.0fs", img.ID, time.Since(t0).Seconds())
	if err := api.DeleteDroplet(ctx, m.d.id); err != nil {
		t.Fatalf("deleting the base droplet: %v", err)
	}
	return img.ID, time.Since(t0)
}

// startFixture boots a droplet through the API (godo) and opens the one
// connection the fixture uses, pinned to the host key given in user_data.
func startFixture(ctx context.Context, t *testing.T, image godo.DropletCreateImage, name string) *fixtureMachine {
	t.Helper()
	d := boot(t, image, "imgcheck-"+name)
	alt, err := remote.NewKeyPair("fixture-customer")
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// The baseline enables `ufw limit ssh`: attempts spaced by less than
	// UFWLimitInterval while a loaded machine still boots lock the test out
	// for good (issue 14's flake; TestUFWLimitLockout shows it).
	c, err := remote.DialRetry(dctx, remote.Config{Addr: d.ip, Signer: d.signer, HostKey: d.hostKey, DialInterval: remote.UFWLimitInterval})
	if err != nil {
		t.Fatalf("ssh to droplet %d: %v\n%s", d.id, err, diagnose(d.id))
	}
	t.Cleanup(func() { c.Close() })
	return &fixtureMachine{d: d, c: c, alt: alt}
}

// run runs cmd as root over the open connection; output is combined.
func (m *fixtureMachine) run(ctx context.Context, cmd string) (string, error) {
	var mu sync.Mutex
	var out strings.Builder
	line := func(l string) { mu.Lock(); out.WriteString(l + "\n"); mu.Unlock() }
	err := m.c.Run(ctx, cmd, remote.RunOptions{Stdout: line, Stderr: line, Timeout: 5 * time.Minute})
	return out.String(), err
}

func (m *fixtureMachine) mustRun(ctx context.Context, t *testing.T, what, cmd string) string {
	t.Helper()
	out, err := m.run(ctx, cmd)
	if err != nil {
		t.Fatalf("%s on droplet %d: %v\n%s", what, m.d.id, err, tail(out, 30))
	}
	return out
}

// baselineScript is what a build does before its cleanup, the way the
// pipeline does it: wait for cloud-init, apt update and full-upgrade with no
// prompts, a recipe's firewall (examples/hello-first-login's
// scripts/10-firewall.sh), and application.info.
const baselineScript = `set -e
cloud-init status --wait >/dev/null 2>&1 || [ $? -eq 2 ]
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a APT_LISTCHANGES_FRONTEND=none UCF_FORCE_CONFFOLD=1
apt="apt-get -y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
$apt update >/dev/null
$apt full-upgrade >/dev/null
ufw limit ssh >/dev/null
ufw --force enable >/dev/null
. /etc/os-release
mkdir -p /var/lib/digitalocean
cat > /var/lib/digitalocean/application.info <<EOF
application_name="imagecheck-fixture"
build_date="$(date -u +%Y-%m-%d)"
distro="$ID"
distro_release="$VERSION_ID"
distro_codename="$VERSION_CODENAME"
distro_arch="$(dpkg --print-architecture)"
application_version="1.0"
EOF
`

// cleanup is the tool's own Marketplace cleanup, over the open connection,
// with the build key (as the pipeline's cleanup step).
func (m *fixtureMachine) cleanup(ctx context.Context, t *testing.T) {
	t.Helper()
	var lines []string
	var mu sync.Mutex
	err := cleanup.Run(ctx, cleanupRunner{m.c}, cleanup.Options{BuildKey: m.d.key.AuthorizedKey,
		Progress: func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }})
	if err != nil {
		t.Fatalf("cleanup on droplet %d: %v\n%s", m.d.id, err, tail(strings.Join(lines, "\n"), 30))
	}
}

// requireBuildKeyGone looks, independently of imagecheck, for the build
// key in every authorized_keys file on the machine after the cleanup.
func (m *fixtureMachine) requireBuildKeyGone(ctx context.Context, t *testing.T) {
	t.Helper()
	fields := strings.Fields(m.d.key.AuthorizedKey)
	if len(fields) < 2 {
		t.Fatalf("build key %q has no body", m.d.key.AuthorizedKey)
	}
	out := m.mustRun(ctx, t, "look for the build key",
		`find / -xdev \( -path /proc -o -path /sys \) -prune -o -type f -path '*authorized_keys*' -print | while IFS= read -r f; do grep -qF `+
			shell.Quote(fields[1])+` "$f" && echo "$f"; done; true`)
	if strings.TrimSpace(out) != "" {
		t.Errorf("after the cleanup the build key is still authorized in:\n%s", out)
	}
}

type cleanupRunner struct{ c *remote.Client }

func (r cleanupRunner) Run(ctx context.Context, cmd string, stdout, stderr func(string)) error {
	return r.c.Run(ctx, cmd, remote.RunOptions{Name: "cleanup", Stdout: stdout, Stderr: stderr, Timeout: 5 * time.Minute})
}

// check validates over the open connection, as the pipeline's validate step.
func (m *fixtureMachine) check(ctx context.Context, t *testing.T) *imagecheck.Report {
	t.Helper()
	rep, err := imagecheck.Run(ctx, m.c, imagecheck.Options{BuildKey: m.d.key.AuthorizedKey, Mode: imagecheck.ModeBuildImage})
	if err != nil {
		t.Fatalf("imagecheck on droplet %d: %v", m.d.id, err)
	}
	return rep
}

// validateWithBinary runs `mp-image validate` against the droplet with the
// fixture's authorized key and reads its JSON report.
func (m *fixtureMachine) validateWithBinary(t *testing.T, wantCode int) *imagecheck.Report {
	t.Helper()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := m.alt.WritePrivateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	reportFile := filepath.Join(dir, "report.json")
	hostKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(m.d.hostKey)))
	r := runBin(t, nil, "validate", "--host", m.d.ip, "--ssh-key", keyFile, "--host-key", hostKey, "--report", reportFile)
	checkNoSecrets(t, r.stdout, r.stderr)
	if r.code != wantCode {
		t.Errorf("mp-image validate exited %d, want %d\n%s\n%s", r.code, wantCode, tail(r.stdout, 40), tail(r.stderr, 10))
	}
	if !strings.Contains(r.stdout, "authorized-keys:root") {
		t.Errorf("the printed table does not name authorized-keys:root:\n%s", tail(r.stdout, 40))
	}
	b, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatalf("mp-image validate wrote no report: %v\n%s", err, tail(r.stderr, 10))
	}
	var rep imagecheck.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report %s: %v", reportFile, err)
	}
	return &rep
}

// expectedIDs is every rule id the fixture's report must hold.
func expectedIDs(fx imageFixture, withBuildKey bool) []string {
	ids := append([]string{}, systemRules...)
	for _, u := range append([]string{"root"}, fx.users...) {
		for _, r := range perUser {
			ids = append(ids, r+":"+u)
		}
	}
	if withBuildKey {
		ids = append(ids, "build-key")
	}
	return ids
}

// compareVerdicts checks every rule of rep: the broken ones have their
// table verdict, all others PASS, and none of ids is missing.
func compareVerdicts(t *testing.T, fixture string, rep *imagecheck.Report, want map[string]imagecheck.Status, ids []string) []verdictRow {
	t.Helper()
	got := map[string]imagecheck.Result{}
	for _, x := range rep.Results {
		if _, dup := got[x.ID]; dup {
			t.Errorf("rule %s is reported twice", x.ID)
		}
		got[x.ID] = x
	}
	for _, id := range ids {
		if _, ok := got[id]; !ok {
			t.Errorf("rule %s is missing from the report", id)
		}
	}
	var rows []verdictRow
	others, passed := 0, 0
	for _, x := range rep.Results {
		exp, broken := want[x.ID]
		if !broken {
			exp = imagecheck.Pass
			others++
			if x.Status == imagecheck.Pass {
				passed++
			}
		}
		if x.Status != exp {
			t.Errorf("rule %s: %s, want %s (%s)\n  details: %s\n  remedy: %s", x.ID, x.Status, exp, x.Title, strings.Join(x.Details, "\n    "), x.Remedy)
		}
		if broken || x.Status != exp {
			rows = append(rows, verdictRow{fixture: fixture, rule: x.ID, want: exp, got: x.Status})
		}
	}
	for id, exp := range want {
		if _, ok := got[id]; !ok {
			rows = append(rows, verdictRow{fixture: fixture, rule: id, want: exp, got: "missing"})
		}
	}
	return append(rows, verdictRow{fixture: fixture, others: others, passed: passed})
}

// runSecurityUpdateFixture makes a pending security update real inside the
// droplet: the dummy package's 1.0 is installed, and 1.1 is offered by a
// repository whose suite is bookworm-security. The repository is served over
// HTTP by this test on the host side of the local cloud's bridge, the address
// the droplet's apt already reaches its proxy on (read from the droplet's own
// apt configuration); apt goes to it directly, not through the proxy. The
// check must FAIL naming the package; after the upgrade (and the cleanup a
// build runs after it) everything must PASS.
func runSecurityUpdateFixture(ctx context.Context, t *testing.T, fx imageFixture, m *fixtureMachine, record func(...verdictRow)) {
	repo, err := aptrepo.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	host := m.bridgeHost(ctx, t)
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen on the bridge address %s: %v", host, err)
	}
	var served sync.Map
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Store(r.URL.Path, true)
		http.FileServer(http.Dir(repo.Dir)).ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String()

	deb, err := os.ReadFile(repo.OldDeb)
	if err != nil {
		t.Fatal(err)
	}
	remoteDeb := "/root/" + filepath.Base(repo.OldDeb)
	if err := m.c.WriteFile(ctx, remoteDeb, deb, 0o644); err != nil {
		t.Fatal(err)
	}
	m.mustRun(ctx, t, "install the dummy package 1.0", "dpkg -i "+remoteDeb+" >/dev/null && rm -f "+remoteDeb)
	m.mustRun(ctx, t, "add the security repository",
		"printf '%s\\n' "+shell.Quote(repo.SourcesLine(base))+" > /etc/apt/sources.list.d/mpi-fixture.list && "+
			"printf 'Acquire::http::Proxy::%s \"DIRECT\";\\n' "+shell.Quote(host)+" > /etc/apt/apt.conf.d/99mpi-fixture-direct")
	m.cleanup(ctx, t)
	m.requireBuildKeyGone(ctx, t)

	rep := m.check(ctx, t)
	if _, ok := served.Load("/dists/" + aptrepo.Suite + "/Release"); !ok {
		t.Errorf("the droplet's apt never fetched the repository's Release file from %s", base)
	}
	record(compareVerdicts(t, fx.name+" (1.0)", rep, fx.want, expectedIDs(fx, true))...)
	for _, x := range rep.Results {
		if x.ID == "security-updates" && (len(x.Details) == 0 || !containsLine(x.Details, aptrepo.Package)) {
			t.Errorf("security-updates does not name %s: %s %v", aptrepo.Package, x.Status, x.Details)
		}
	}

	m.mustRun(ctx, t, "upgrade",
		"DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold full-upgrade >/dev/null")
	out, _, _, err := m.c.Output(ctx, "dpkg-query -W -f '${Version}' "+aptrepo.Package)
	if err != nil || strings.TrimSpace(string(out)) != aptrepo.NewVersion {
		t.Fatalf("after the upgrade %s is at %q (%v), want %s", aptrepo.Package, strings.TrimSpace(string(out)), err, aptrepo.NewVersion)
	}
	m.cleanup(ctx, t)
	rep = m.check(ctx, t)
	record(compareVerdicts(t, fx.name+" (1.1)", rep, nil, expectedIDs(fx, true))...)
}

func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) == s {
			return true
		}
	}
	return false
}

// bridgeHost is the host's address on the local cloud's bridge, as the
// droplet sees it: the host of the apt proxy the backend configured in it.
func (m *fixtureMachine) bridgeHost(ctx context.Context, t *testing.T) string {
	t.Helper()
	out := strings.TrimSpace(m.mustRun(ctx, t, "read the apt proxy", `eval "$(apt-config shell P Acquire::http::Proxy)"; echo "$P"`))
	u, err := url.Parse(out)
	if err != nil || u.Hostname() == "" {
		t.Fatalf("the droplet's apt proxy %q is not a URL: %v", out, err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || ip.IsLoopback() {
		t.Fatalf("the droplet's apt proxy host %q is not a bridge address", u.Hostname())
	}
	return u.Hostname()
}
