package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// Issue 7, cancellation: SIGTERM at many points of real build_image runs
// (with a transfer and the boot test, so every step of the flow is there to
// be interrupted). Each run must exit 130 saying it was cancelled and leave
// nothing behind in the ledger (droplets, keys, snapshots).
//
// CI runs cancelCIPoints; MP_CANCEL_SWEEP=full runs every point
// (scripts/faults-sweep). TestCancelSIGTERM and BenchmarkCancelSIGTERM share
// the point list and runCancelPoint.

// cancelPoint is where a signal is sent: wait for a stdout line containing
// after, then wait a little longer.
type cancelPoint struct {
	name  string
	after string
	wait  time.Duration
	ci    bool // part of the CI subset
	// fault, when set, makes the emulator answer as DigitalOcean may.
	fault func(*localcloud.Faults)
}

var cancelPoints = []cancelPoint{
	{name: "preflight", after: "==> check token, region, size and image"},
	{name: "keygen", after: "==> generate keys"},
	{name: "create key", after: "==> create temporary SSH key"},
	{name: "create droplet", after: "==> create build droplet"},
	{name: "wait active", after: "==> wait for the droplet to become active", ci: true},
	{name: "wait active +1s", after: "==> wait for the droplet to become active", wait: time.Second},
	{name: "connect", after: "==> connect over SSH"},
	{name: "connect +3s", after: "==> connect over SSH", wait: 3 * time.Second},
	{name: "apt", after: "==> apt update, full-upgrade, install"},
	{name: "apt +5s", after: "==> apt update, full-upgrade, install", wait: 5 * time.Second},
	{name: "provision", after: "==> provision"},
	{name: "script upload", after: "-> scripts/10-firewall.sh"},
	{name: "script running", after: "[scripts/10-firewall.sh] ", ci: true},
	{name: "app info", after: "==> write application.info"},
	{name: "cleanup", after: "==> Marketplace cleanup"},
	{name: "cleanup running", after: "[cleanup] ", ci: true},
	{name: "validate", after: "==> validate (Marketplace img_check rules)"},
	{name: "power off", after: "==> power off"},
	{name: "power off +1s", after: "==> power off", wait: time.Second},
	{name: "snapshot", after: "==> snapshot", ci: true},
	{name: "snapshot +0.5s", after: "==> snapshot", wait: 500 * time.Millisecond},
	// DigitalOcean's two other answers to deleting a droplet mid-snapshot:
	// the delete refused until the action ends, the snapshot finished anyway.
	{name: "snapshot, delete refused", after: "==> snapshot", wait: 500 * time.Millisecond, ci: true,
		fault: (*localcloud.Faults).RefuseDeleteDuringSnapshot},
	{name: "snapshot, outlives delete", after: "==> snapshot", wait: 500 * time.Millisecond, ci: true,
		fault: (*localcloud.Faults).SnapshotOutlivesDelete},
	{name: "delete droplet", after: "==> delete build droplet"},
	{name: "transfer", after: "==> transfer and tag the snapshot"},
	{name: "release", after: "==> release the snapshot"},
	{name: "boot test", after: "==> boot test (review simulation)", ci: true},
	{name: "boot test +3s", after: "==> boot test (review simulation)", wait: 3 * time.Second},
	{name: "boot droplet made", after: "boot test: droplet "},
}

// selectedCancelPoints is the CI subset, or every point with MP_CANCEL_SWEEP=full.
func selectedCancelPoints() []cancelPoint {
	if os.Getenv("MP_CANCEL_SWEEP") == "full" {
		return cancelPoints
	}
	var out []cancelPoint
	for _, p := range cancelPoints {
		if p.ci {
			out = append(out, p)
		}
	}
	return out
}

// cancelResult is what one cancelled run measured.
type cancelResult struct {
	point     cancelPoint
	created   map[string]int
	left      int
	code      int
	clean     time.Duration // signal -> last resource of the run deleted (0: nothing to delete after it)
	exitAfter time.Duration // signal -> process exit
}

// runCancelPoint runs one build_image, sends SIGTERM at p and checks the
// exit, the message and the ledger; failures are reported on tb.
func runCancelPoint(tb testing.TB, p cancelPoint) cancelResult {
	tb.Helper()
	res := cancelResult{point: p, created: map[string]int{}}
	if d, k := liveCount(); d != 0 || k != 0 {
		tb.Fatalf("left behind before the run: %d droplets, %d keys", d, k)
	}
	env.srv.Faults().Reset()
	if p.fault != nil {
		p.fault(env.srv.Faults())
		defer env.srv.Faults().Reset()
	}
	n0 := len(env.srv.Ledger().All())
	args := append([]string{"build", "--mode", "build_image", "--dir", "examples/hello-first-login", "--vendor", "hello",
		"--snapshot-regions", "nyc3,ams3"}, apiArgs()...)
	seen := make(chan struct{})
	once := false
	w, err := testutil.StartWatched(testutil.Command(context.Background(), env.bin, env.root, nil, args...), func(l string) {
		if !once && strings.Contains(l, p.after) {
			once = true
			close(seen)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer func() {
		select {
		case <-w.Done():
		default:
			w.Cmd.Process.Kill()
		}
	}()
	select {
	case <-seen:
	case <-w.Done():
		tb.Fatalf("build ended (%v) before %q\nstdout:\n%s\nstderr:\n%s", w.Err(), p.after, tail(w.Stdout.String(), 40), tail(w.Stderr.String(), 20))
	case <-time.After(10 * time.Minute):
		tb.Fatalf("no %q line in 10 minutes", p.after)
	}
	time.Sleep(p.wait)
	sig := time.Now()
	if err := w.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-w.Done():
	case <-time.After(3 * time.Minute):
		tb.Fatal("no exit 3 minutes after SIGTERM")
	}
	res.exitAfter = time.Since(sig)
	res.code, _ = testutil.ExitCode(w.Err())
	stdout, stderr := w.Stdout.String(), w.Stderr.String()
	failed := false
	errorf := func(format string, a ...any) {
		failed = true
		tb.Errorf("%s: "+format, append([]any{p.name}, a...)...)
	}
	checkNoSecrets(tb, stdout, stderr)
	if res.code != 130 {
		errorf("exit %d after SIGTERM, want 130", res.code)
	}
	if !strings.Contains(strings.ToLower(stderr), "cancelled") {
		errorf("stderr does not say it was cancelled:\n%s", tail(stderr, 10))
	}
	// Cleanup time from the ledger's own deletion times: the last resource
	// of this run gone, measured from the signal.
	var last time.Time
	names := map[string]int{}
	for _, rec := range env.srv.Ledger().All()[n0:] {
		if rec.Kind == localcloud.KindAction || rec.Kind == localcloud.KindTag {
			continue
		}
		res.created[rec.Kind]++
		if rec.Kind == localcloud.KindDroplet {
			names[rec.Name]++
		}
		if rec.Exists {
			res.left++
			errorf("left behind: %s %s %q", rec.Kind, rec.ID, rec.Name)
			deleteRecord(rec)
			continue
		}
		if rec.Deleted.After(last) {
			last = rec.Deleted
		}
	}
	if last.After(sig) {
		res.clean = last.Sub(sig)
	}
	for n, k := range names {
		if k > 1 {
			errorf("droplet %s created %d times", n, k)
		}
	}
	if failed {
		tb.Logf("%s: stdout:\n%s\nstderr:\n%s", p.name, tail(stdout, 40), tail(stderr, 20))
	}
	return res
}

// cancelTable prints one line per run and the median and max of
// signal->clean.
func cancelTable(rs []cancelResult) (table string, median, maxd time.Duration) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-18s %-34s %4s %5s %9s %9s\n", "point", "created", "exit", "left", "clean", "exit-in")
	var ds []time.Duration
	for _, r := range rs {
		fmt.Fprintf(&b, "%-18s %-34s %4d %5d %8.2fs %8.2fs\n", r.point.name, fmtCreated(r.created), r.code, r.left,
			r.clean.Seconds(), r.exitAfter.Seconds())
		ds = append(ds, r.clean)
	}
	if len(ds) == 0 {
		return b.String(), 0, 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	median = ds[len(ds)/2]
	if len(ds)%2 == 0 {
		median = (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	maxd = ds[len(ds)-1]
	fmt.Fprintf(&b, "%d points: signal->clean median %.2fs, max %.2fs (the issue asks for 5 s)\n", len(ds), median.Seconds(), maxd.Seconds())
	return b.String(), median, maxd
}

func fmtCreated(m map[string]int) string {
	var parts []string
	for _, k := range []string{localcloud.KindDroplet, localcloud.KindKey, localcloud.KindSnapshot} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// TestCancelSIGTERM sends SIGTERM at each selected point of a real
// build_image run: each exits 130 saying it was cancelled, and the ledger
// shows everything the run created deleted. The time from signal to clean
// is printed (the issue asks for 5 s; BenchmarkCancelSIGTERM reports it).
func TestCancelSIGTERM(t *testing.T) {
	need(t)
	var rs []cancelResult
	t.Cleanup(func() {
		table, _, _ := cancelTable(rs)
		t.Log("signal to clean:" + table)
	})
	for _, p := range selectedCancelPoints() {
		t.Run(strings.NewReplacer(" ", "_", "+", "", ",", "").Replace(p.name), func(t *testing.T) {
			rs = append(rs, runCancelPoint(t, p))
		})
	}
}

// BenchmarkCancelSIGTERM measures signal -> last resource deleted over the
// same points (MP_CANCEL_SWEEP=full: all of them) and reports median-s,
// max-s and points (scripts/bench parses these names).
func BenchmarkCancelSIGTERM(b *testing.B) {
	need(b)
	var rs []cancelResult
	for i := 0; i < b.N; i++ {
		for _, p := range selectedCancelPoints() {
			rs = append(rs, runCancelPoint(b, p))
		}
	}
	table, median, maxd := cancelTable(rs)
	b.Log(table)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(median.Seconds(), "median-s")
	b.ReportMetric(maxd.Seconds(), "max-s")
	b.ReportMetric(float64(len(selectedCancelPoints())), "points")
}
