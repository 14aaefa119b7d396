package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/pipeline"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// Issue 7, the rest of the reliability proofs: the idle-output watchdog, reap
// after a killed run, concurrent builds under the rate limit, and a scan of
// every file and stream the tool wrote for secrets.

// writeRecipe makes a recipe folder from name -> contents (scripts get 0755).
var writeRecipe = testutil.WriteTree

// TestIdleWatchdog: a script prints a line, then waits for input that never
// comes (read on a FIFO nobody writes: stdin itself is closed). With
// --idle-timeout 15s the build must stop it and say which script and what it
// printed last, instead of waiting for --script-timeout (30m here).
func TestIdleWatchdog(t *testing.T) {
	need(t)
	requireNothingLeft(t)
	env.srv.Faults().Reset()
	dir := writeRecipe(t, map[string]string{
		"scripts/10-ask.sh": "#!/bin/sh\nset -e\necho 'Configure the database now? [y/N]'\nrm -f /tmp/q && mkfifo /tmp/q\nread answer < /tmp/q\necho \"got $answer\"\n",
	})
	// No apt step: the 15 s watchdog is for the script under test, and on a
	// loaded machine dpkg can unpack a package in silence for longer than that.
	args := append([]string{"build", "--mode", "build_base", "--dir", dir, "--vendor", "hello",
		"--idle-timeout", "15s", "--script-timeout", "30m", "--apt-upgrade", "false"}, apiArgs()...)
	r := runBin(t, nil, args...)
	checkNoSecrets(t, r.stdout, r.stderr)
	if r.code == 0 || r.code == 130 {
		t.Fatalf("exit %d, want a failure", r.code)
	}
	out := r.stdout + r.stderr
	wantAll(t, r.stderr, "scripts/10-ask.sh", "Configure the database now? [y/N]")
	if !strings.Contains(strings.ToLower(r.stderr), "idle") && !strings.Contains(strings.ToLower(r.stderr), "no output") {
		t.Errorf("the error does not say the script went quiet:\n%s", tail(r.stderr, 10))
	}
	if strings.Contains(out, "got ") {
		t.Error("the script got past read: it was not waiting")
	}
	t.Logf("the failure, as printed:\n%s", tail(strings.TrimSpace(r.stderr), 4))
	if strings.Contains(strings.ToLower(r.stderr), "script-timeout") {
		t.Errorf("stopped by the script timeout, not the idle watchdog:\n%s", tail(r.stderr, 10))
	}
	requireNothingLeft(t)
}

// reapRun runs mp-image reap against the shared emulator.
func reapRun(t *testing.T, args ...string) result {
	t.Helper()
	return runBin(t, nil, append([]string{"reap", "--api-url", env.srv.URL(), "--token", env.token}, args...)...)
}

// TestReapAfterSIGKILL: a build killed (SIGKILL: no cleanup at all) after its
// snapshot was taken leaves its droplet, key and pending snapshot (and the
// boot test's droplet and key, which start alongside the delete). reap
// lists them only when they are old enough and match the tag, and --yes
// deletes them (the ledger shows none left). The snapshot is reaped only if
// its release had not run yet: a released snapshot is the build's product.
func TestReapAfterSIGKILL(t *testing.T) {
	need(t)
	requireNothingLeft(t)
	faults := env.srv.Faults()
	faults.Reset()
	t.Cleanup(faults.Reset)
	n0 := len(env.srv.Ledger().All())
	// Hold the build droplet's delete at the emulator, so the kill lands
	// after the snapshot and before anything is deleted.
	faults.Add(localcloud.Fault{Method: "DELETE", Path: "/v2/droplets/*", Delay: 10 * time.Minute, Times: 1})
	st0 := env.srv.Stats()
	args := append([]string{"build", "--mode", "build_image", "--dir", "examples/hello-first-login", "--vendor", "hello"}, apiArgs()...)
	seen := make(chan struct{})
	once := false
	w, err := testutil.StartWatched(testutil.Command(context.Background(), env.bin, env.root, nil, args...), func(l string) {
		if !once && strings.Contains(l, "==> delete build droplet") {
			once = true
			close(seen)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-seen:
	case <-w.Done():
		t.Fatalf("build ended (%v) before deleting its droplet:\n%s\n%s", w.Err(), tail(w.Stdout.String(), 30), w.Stderr.String())
	case <-time.After(10 * time.Minute):
		w.Cmd.Process.Kill()
		t.Fatal("no delete step in 10 minutes")
	}
	// Kill once the held DELETE has reached the emulator.
	for env.srv.Stats().Faulted == st0.Faulted {
		select {
		case <-w.Done():
			t.Fatalf("build ended (%v) before its delete reached the emulator", w.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	w.Cmd.Process.Signal(syscall.SIGKILL)
	<-w.Done()
	faults.Reset()
	checkNoSecrets(t, w.Stdout.String(), w.Stderr.String())

	// What the killed run left. The boot test starts as soon as the snapshot
	// exists, alongside the build droplet's delete, so its droplet and key
	// may be there too: reap must find those as well.
	var left []localcloud.Record
	live := map[string][]localcloud.Record{}
	for _, rec := range env.srv.Ledger().All()[n0:] {
		if rec.Exists && rec.Kind != localcloud.KindAction && rec.Kind != localcloud.KindTag {
			left = append(left, rec)
			live[rec.Kind] = append(live[rec.Kind], rec)
		}
	}
	t.Cleanup(func() {
		// Only if reap failed to: the next tests check that nothing is left.
		for _, rec := range left {
			deleteRecord(rec)
		}
	})
	var d localcloud.Record
	for _, rec := range live[localcloud.KindDroplet] {
		if !strings.HasPrefix(rec.Name, "mp-image-boot-") {
			d = rec
		}
	}
	if d.ID == "" || len(live[localcloud.KindSnapshot]) != 1 || len(live[localcloud.KindKey]) < 1 || len(live[localcloud.KindKey]) > 2 || len(live[localcloud.KindDroplet]) > 2 {
		t.Fatalf("after SIGKILL, want the build droplet, its key and the snapshot left (and perhaps the boot test's droplet and key); got %v", live)
	}
	run := strings.TrimPrefix(d.Name, "mp-image-")
	// The release runs alongside the delete too. A released snapshot is the
	// build's product, not a leftover: reap must leave it alone. One still
	// tagged with its run is pending: reap must delete it.
	var ids []string
	var reapable, released []localcloud.Record
	for _, rec := range left {
		if !strings.Contains(rec.Name, run) {
			t.Errorf("%s %s %q left by another run", rec.Kind, rec.ID, rec.Name)
		}
		if rec.Kind == localcloud.KindSnapshot {
			im, _, err := env.godo.Images.GetByID(context.Background(), atoi(rec.ID))
			if err != nil {
				t.Fatalf("snapshot %s: %v", rec.ID, err)
			}
			if _, pending := pipeline.PendingRun(im.Tags); !pending {
				released = append(released, rec)
				continue
			}
		}
		reapable = append(reapable, rec)
		ids = append(ids, rec.ID)
	}
	t.Logf("left after SIGKILL: %d droplets, %d keys, 1 snapshot (released: %v)", len(live[localcloud.KindDroplet]), len(live[localcloud.KindKey]), len(released) == 1)
	runTag := "mp-image-run-" + run
	listed := func(r result) (n int) {
		for _, id := range ids {
			if strings.Contains(r.stdout, " "+id+" ") {
				n++
			}
		}
		return n
	}
	// Default --older-than 1h: this run is minutes old, it could still be running.
	if r := reapRun(t); r.code != 0 || listed(r) != 0 {
		t.Errorf("reap (older than 1h): exit %d, listed %d of this run's resources, want none:\n%s", r.code, listed(r), r.stdout)
	}
	if r := reapRun(t, "--older-than", "0s", "--tag", "mp-image-run-someoneelse"); r.code != 0 || listed(r) != 0 {
		t.Errorf("reap --tag of another run: exit %d, listed %d, want none:\n%s", r.code, listed(r), r.stdout)
	}
	r := reapRun(t, "--older-than", "0s", "--tag", runTag)
	if r.code != 0 || listed(r) != len(ids) {
		t.Errorf("reap --older-than 0s --tag %s: exit %d, listed %d of %d:\n%s", runTag, r.code, listed(r), len(ids), r.stdout)
	}
	if !strings.Contains(r.stdout, "--yes") {
		t.Errorf("reap without --yes does not say how to delete:\n%s", r.stdout)
	}
	for _, rec := range left {
		if !ledgerExists(rec.Kind, rec.ID) {
			t.Errorf("reap without --yes deleted %s %s", rec.Kind, rec.ID)
		}
	}
	r = reapRun(t, "--older-than", "0s", "--yes")
	checkNoSecrets(t, r.stdout, r.stderr)
	if want := fmt.Sprintf("deleted %d of %d", len(ids), len(ids)); r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("reap --yes: exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, rec := range released {
		if !ledgerExists(rec.Kind, rec.ID) {
			t.Errorf("reap --yes deleted the released snapshot %s %q", rec.ID, rec.Name)
		}
	}
	for _, rec := range reapable {
		if ledgerExists(rec.Kind, rec.ID) {
			t.Errorf("after reap --yes, %s %s %q is still there", rec.Kind, rec.ID, rec.Name)
		}
	}
	if r := reapRun(t, "--older-than", "0s"); !strings.Contains(r.stdout, "nothing left behind") {
		t.Errorf("reap after --yes still finds:\n%s", r.stdout)
	}
	for _, rec := range released {
		if err := deleteRecord(rec); err != nil {
			t.Errorf("deleting the released snapshot %s: %v", rec.ID, err)
		}
	}
	requireNothingLeft(t)
}

// concurrentBuilds is how many builds TestConcurrentBuilds runs at once:
// MP_CONCURRENT_BUILDS (the proof is 10), 3 by default so that CI
// on two cores stays short.
func concurrentBuilds() int {
	if n, err := strconv.Atoi(os.Getenv("MP_CONCURRENT_BUILDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// buildFiles are the files a build run as a GitHub Action writes.
type buildFiles struct {
	dir                                     string
	manifest, report, dotenv, output, state string
	summary                                 string
	env                                     map[string]string
}

func newBuildFiles(t *testing.T) buildFiles {
	dir := t.TempDir()
	f := buildFiles{dir: dir,
		manifest: filepath.Join(dir, "manifest.json"), report: filepath.Join(dir, "report.json"),
		dotenv: filepath.Join(dir, "build.env"), output: filepath.Join(dir, "github_output"),
		state: filepath.Join(dir, "github_state"), summary: filepath.Join(dir, "step_summary.md")}
	for _, p := range []string{f.output, f.state, f.summary} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.env = map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": f.output, "GITHUB_STATE": f.state,
		"GITHUB_STEP_SUMMARY": f.summary, "RUNNER_TEMP": filepath.Join(dir, "runner-temp")}
	os.MkdirAll(f.env["RUNNER_TEMP"], 0o755)
	return f
}

func (f buildFiles) args() []string {
	// The transcript too: the secrets scan reads every file under dir.
	return []string{"--manifest", f.manifest, "--report", f.report, "--dotenv", f.dotenv, "--log-file", filepath.Join(f.dir, "build.log")}
}

// scanForSecrets reads every file under dir (except allowed) and the given
// streams and fails on the token, a PEM header or any of the secret strings.
func scanForSecrets(t *testing.T, dir string, allowed map[string]bool, secrets []string, streams ...string) (files int) {
	t.Helper()
	look := func(where, s string) {
		if strings.Contains(s, env.token) {
			t.Errorf("%s contains the API token", where)
		}
		if strings.Contains(s, "PRIVATE KEY") {
			t.Errorf("%s contains a PEM private key header", where)
		}
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s contains private key material (%d bytes of a key's body)", where, len(sec))
			}
		}
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || allowed[p] {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("reading %s: %v", p, err)
			return nil
		}
		files++
		look(p, string(b))
		return nil
	})
	for i, s := range streams {
		// The runner's ::add-mask:: line carries the literal value it masks.
		look(fmt.Sprintf("output stream %d", i), withoutMaskLines(s))
	}
	return files
}

// keyBody returns the base64 lines of a PEM/OpenSSH private key file, the
// part that must never appear anywhere else.
func keyBody(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "-----") && len(l) >= 20 {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no key body in %s", path)
	}
	return out
}

// TestConcurrentBuilds runs build_base of examples/hello-first-login N times
// at once against the shared emulator, its per-token limit lowered to 5N
// requests a minute for the run (all builds share the token). Every build
// must succeed: a 429 is waited out, never surfaced as an error. Each build's manifest reports the
// API requests it used. Build 1 keeps its droplet, so its private key is
// written (0600); every other file and stream of every build is then scanned
// for the token, PEM headers and that key's body.
func TestConcurrentBuilds(t *testing.T) {
	need(t)
	requireNothingLeft(t)
	env.srv.Faults().Reset()
	n := concurrentBuilds()
	// The default 250/min is far more than N build_base runs ask for (about
	// 11 requests each): lower it for the run so the limiter does engage.
	perMin := 5 * n
	oldMin, oldHour := env.srv.SetRateLimit(perMin, 0)
	t.Cleanup(func() { env.srv.SetRateLimit(oldMin, oldHour) })
	st0 := env.srv.Stats()
	type run struct {
		files    buildFiles
		r        result
		took     time.Duration
		requests int
	}
	runs := make([]run, n)
	var wg sync.WaitGroup
	for i := range runs {
		runs[i].files = newBuildFiles(t)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			args := append([]string{"build", "--mode", "build_base", "--dir", "examples/hello-first-login", "--vendor", "hello"}, apiArgs()...)
			args = append(args, runs[i].files.args()...)
			if i == 0 {
				args = append(args, "--keep-droplet")
			}
			start := time.Now()
			runs[i].r = runBin(t, runs[i].files.env, args...)
			runs[i].took = time.Since(start)
		}(i)
	}
	wg.Wait()
	st1 := env.srv.Stats()

	// The kept droplet's key: the one private key the tool may write.
	keys, _ := filepath.Glob(filepath.Join(runs[0].files.env["RUNNER_TEMP"], "mp-image-*.key"))
	var secrets []string
	allowed := map[string]bool{}
	if len(keys) != 1 {
		t.Errorf("keep-droplet saved %d key files in RUNNER_TEMP, want 1", len(keys))
	} else {
		fi, err := os.Stat(keys[0])
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("kept key %s: mode %v (%v), want 0600", keys[0], fi.Mode().Perm(), err)
		}
		secrets = keyBody(t, keys[0])
		allowed[keys[0]] = true
	}
	for _, d := range env.srv.Ledger().Live(localcloud.KindDroplet) {
		env.godo.Droplets.Delete(context.Background(), atoi(d.ID))
	}
	for _, k := range env.srv.Ledger().Live(localcloud.KindKey) {
		env.godo.Keys.DeleteByID(context.Background(), atoi(k.ID))
	}
	waitNothingLeft(t)

	var b strings.Builder
	fmt.Fprintf(&b, "\n%-6s %-8s %9s %8s %6s\n", "build", "outcome", "requests", "took", "files")
	for i := range runs {
		rn := &runs[i]
		outcome := "ok"
		if rn.r.code != 0 {
			outcome = fmt.Sprintf("exit %d", rn.r.code)
			t.Errorf("build %d: exit %d:\n%s", i+1, rn.r.code, tail(rn.r.stderr, 15))
		}
		if strings.Contains(rn.r.stderr, "429") || strings.Contains(strings.ToLower(rn.r.stderr), "rate limit") {
			t.Errorf("build %d: a 429 surfaced as an error:\n%s", i+1, tail(rn.r.stderr, 10))
		}
		var m struct {
			APIRequests int `json:"api_requests"`
		}
		if raw, err := os.ReadFile(rn.files.manifest); err != nil {
			t.Errorf("build %d: no manifest: %v", i+1, err)
		} else if err := json.Unmarshal(raw, &m); err != nil {
			t.Errorf("build %d: manifest: %v", i+1, err)
		}
		rn.requests = m.APIRequests
		if m.APIRequests <= 0 {
			t.Errorf("build %d: the manifest reports %d API requests", i+1, m.APIRequests)
		}
		if sum, _ := os.ReadFile(rn.files.summary); !strings.Contains(string(sum), fmt.Sprintf("| API requests | %d |", m.APIRequests)) {
			t.Errorf("build %d: the job summary does not report the %d API requests:\n%s", i+1, m.APIRequests, sum)
		}
		if i > 0 {
			// No keep-droplet: no private key may be written anywhere.
			if ks, _ := filepath.Glob(filepath.Join(rn.files.env["RUNNER_TEMP"], "*")); len(ks) > 0 {
				t.Errorf("build %d wrote %v into RUNNER_TEMP without keep-droplet", i+1, ks)
			}
		}
		files := scanForSecrets(t, rn.files.dir, allowed, secrets, rn.r.stdout, rn.r.stderr)
		fmt.Fprintf(&b, "%-6d %-8s %9d %7.0fs %6d\n", i+1, outcome, rn.requests, rn.took.Seconds(), files)
	}
	var total int
	for _, rn := range runs {
		total += rn.requests
	}
	fmt.Fprintf(&b, "%d builds at once, limit %d requests/min per token (shared): %d API requests by the builds' own count, %d served; the emulator's rate limiter answered 429 %d times\n",
		n, perMin, total, st1.Total-st0.Total, st1.RateLimited-st0.RateLimited)
	t.Log(b.String())
	requireNothingLeft(t)
}

// ledgerExists reports whether the emulator still has the resource.
// deleteRecord deletes a droplet, key or snapshot the ledger lists, for
// tests that clean up after a failure; the error is the API's.
func deleteRecord(rec localcloud.Record) error {
	ctx := context.Background()
	var err error
	switch rec.Kind {
	case localcloud.KindSnapshot:
		_, err = env.godo.Images.Delete(ctx, atoi(rec.ID))
	case localcloud.KindDroplet:
		_, err = env.godo.Droplets.Delete(ctx, atoi(rec.ID))
	case localcloud.KindKey:
		_, err = env.godo.Keys.DeleteByID(ctx, atoi(rec.ID))
	}
	return err
}

func ledgerExists(kind, id string) bool {
	for _, r := range env.srv.Ledger().Live(kind) {
		if r.ID == id {
			return true
		}
	}
	return false
}

// waitNothingLeft waits (bounded) for deletions the test itself asked for.
func waitNothingLeft(t *testing.T) {
	t.Helper()
	for i := 0; i < 600; i++ {
		if d, k := liveCount(); d == 0 && k == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	requireNothingLeft(t)
}
