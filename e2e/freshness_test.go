package e2e

import (
	"context"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/imagecheck/aptrepo"
	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// freshnessRecipe installs the fixture's dummy package from a repository
// whose suite is bookworm-security, served by the test on the bridge; its
// latest-version prints $MPI_LATEST (or fails when MPI_LATEST_FAIL is set).
func freshnessRecipe(t *testing.T) string {
	t.Helper()
	return writeRecipe(t, map[string]string{
		"scripts/10-dummy.sh": `#!/bin/sh
set -e
printf 'deb [trusted=yes] %s ` + aptrepo.Suite + ` ` + aptrepo.Component + `\n' "$MPI_REPO" > /etc/apt/sources.list.d/mpi-fixture.list
host=${MPI_REPO#http://}; host=${host%%:*}
printf 'Acquire::http::Proxy::%s "DIRECT";\n' "$host" > /etc/apt/apt.conf.d/99mpi-fixture-direct
apt-get -q update
apt-get install -y -q ` + aptrepo.Package + `
`,
		"verify/10-dummy.sh":       "#!/bin/sh\ndpkg-query -W " + aptrepo.Package + "\n",
		"freshness/latest-version": "#!/bin/sh\nif [ -n \"$MPI_LATEST_FAIL\" ]; then echo 'upstream API answered 503' >&2; exit 4; fi\necho \"${MPI_LATEST:-1.0}\"\n",
	})
}

// freshnessOutputs reads stale and reasons as the console prints them.
func freshnessOutputs(t *testing.T, r result) (stale string, reasons []string) {
	t.Helper()
	lines := strings.Split(r.stdout, "\n")
	for i, l := range lines {
		if v, ok := strings.CutPrefix(l, "stale="); ok {
			stale = v
		}
		if v, ok := strings.CutPrefix(l, "reasons="); ok {
			reasons = append(reasons, v)
			for _, more := range lines[i+1:] {
				if !strings.HasPrefix(more, "  ") {
					break
				}
				reasons = append(reasons, strings.TrimSpace(more))
			}
		}
	}
	return stale, reasons
}

// TestFreshness builds one image with the dummy package at 1.0, then asks
// mp-image freshness about its snapshot on real droplets: fresh; stale when
// latest-version prints a newer version; stale, naming the package and both
// versions, once a security update is published in the local apt repository.
// Bad input (unknown snapshot, failing latest-version, a snapshot without
// application.info) is a clear error, the first two before any droplet.
func TestFreshness(t *testing.T) {
	need(t)
	repo, err := aptrepo.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(env.host, "0"))
	if err != nil {
		t.Fatalf("listen on the bridge address %s: %v", env.host, err)
	}
	var published atomic.Bool // the security update is out
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		root := repo.BaseDir
		if published.Load() {
			root = repo.Dir
		}
		http.FileServer(http.Dir(root)).ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	dir := freshnessRecipe(t)
	manifest := filepath.Join(t.TempDir(), "manifest.json")
	buildArgs := append([]string{"build", "--dir", dir, "--application-version", "1.0", "--boot-test=false",
		"--env", "MPI_REPO=http://" + ln.Addr().String()}, apiArgs()...)
	// Alongside, the same recipe submitting software the image lacks must
	// stop before its snapshot, naming what is missing.
	var missing result
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		missing = runBin(t, nil, append(slices.Clone(buildArgs), "--submit-app-id", "app-e2e", "--submit-version", "1.0",
			"--submit-software", aptrepo.Package+", Redis;package=redis-server")...)
	}()
	r := runBin(t, nil, append(slices.Clone(buildArgs), "--manifest", manifest)...)
	wg.Wait()
	if r.code != 0 {
		t.Fatalf("build exited %d", r.code)
	}
	if missing.code == 0 || !strings.Contains(missing.stderr, `"Redis" (package redis-server) not installed in the image`) ||
		strings.Contains(missing.stdout, "==> snapshot") || strings.Contains(missing.stderr, aptrepo.Package+`" (package`) {
		t.Errorf("submit-software naming a missing package: exit %d\nstdout:\n%s\nstderr:\n%s", missing.code, tail(missing.stdout, 15), tail(missing.stderr, 5))
	}
	m, err := report.ReadManifest(manifest)
	if err != nil || m.SnapshotID == 0 {
		t.Fatalf("manifest: %v %+v", err, m)
	}
	defer env.godo.Images.Delete(context.Background(), m.SnapshotID)
	snap := itoa(m.SnapshotID)
	fresh := func(extra map[string]string, args ...string) result {
		return runBin(t, extra, append(append([]string{"freshness"}, args...), apiArgs()...)...)
	}

	// Bad input that must stop before a droplet exists.
	created := env.srv.Ledger().Count(localcloud.KindDroplet)
	if r := fresh(nil, "--snapshot", "987654", "--dir", dir); r.code == 0 || !strings.Contains(r.stderr, "snapshot 987654 does not exist") {
		t.Errorf("unknown snapshot: exit %d, stderr %q", r.code, tail(r.stderr, 5))
	}
	if r := fresh(map[string]string{"MPI_LATEST_FAIL": "1"}, "--snapshot", snap, "--dir", dir); r.code == 0 ||
		!strings.Contains(r.stderr, "upstream API answered 503") || !strings.Contains(r.stderr, "latest-version") {
		t.Errorf("failing latest-version: exit %d, stderr %q", r.code, tail(r.stderr, 5))
	}
	if n := env.srv.Ledger().Count(localcloud.KindDroplet); n != created {
		t.Errorf("%d droplets were created for bad input", n-created)
	}
	requireNothingLeft(t)

	// Fresh, and stale by upstream version, at once: independent droplets.
	var same, newer result
	wg.Add(2)
	go func() {
		defer wg.Done()
		same = fresh(map[string]string{"MPI_LATEST": "1.0"}, "--snapshot", snap, "--dir", dir)
	}()
	go func() {
		defer wg.Done()
		newer = fresh(map[string]string{"MPI_LATEST": "v2.0"}, "--snapshot", snap, "--dir", dir)
	}()
	wg.Wait()
	if st, rs := freshnessOutputs(t, same); same.code != 0 || st != "false" || len(rs) != 0 {
		t.Errorf("fresh build: exit %d stale %q reasons %q", same.code, st, rs)
	}
	if st, rs := freshnessOutputs(t, newer); newer.code != 0 || st != "true" || len(rs) != 1 ||
		!strings.Contains(rs[0], "v2.0") || !strings.Contains(rs[0], "application_version 1.0") {
		t.Errorf("newer upstream: exit %d stale %q reasons %q", newer.code, st, rs)
	}
	requireNothingLeft(t)

	// A security update for the installed package is published: the suite's
	// files change, and are newer than what apt fetched before (apt asks
	// If-Modified-Since).
	now := time.Now()
	filepath.WalkDir(repo.Dir, func(p string, _ fs.DirEntry, _ error) error { return os.Chtimes(p, now, now) })
	published.Store(true)
	r = fresh(map[string]string{"MPI_LATEST": "1.0"}, "--snapshot", snap, "--dir", dir)
	st, rs := freshnessOutputs(t, r)
	if r.code != 0 || st != "true" || len(rs) != 1 || !strings.Contains(rs[0], aptrepo.Package+" "+aptrepo.OldVersion+" -> "+aptrepo.NewVersion) {
		t.Errorf("published security update: exit %d stale %q reasons %q", r.code, st, rs)
	}
	if !strings.Contains(r.stdout+r.stderr, "[verify/10-dummy.sh]") {
		t.Errorf("the verify/ scripts did not run")
	}
	requireNothingLeft(t)

	// SIGTERM while the freshness droplet boots: exit 130, nothing left.
	booting := make(chan struct{})
	once := false
	w, err := testutil.StartWatched(testutil.Command(context.Background(), env.bin, env.root, map[string]string{"MPI_LATEST": "1.0"},
		append([]string{"freshness", "--snapshot", snap, "--dir", dir}, apiArgs()...)...), func(l string) {
		if !once && strings.Contains(l, "freshness: droplet") {
			once = true
			close(booting)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-booting:
		w.Cmd.Process.Signal(syscall.SIGTERM)
	case <-w.Done():
		t.Fatalf("freshness ended (%v) before booting a droplet:\n%s", w.Err(), tail(w.Stdout.String(), 20))
	case <-time.After(5 * time.Minute):
		w.Cmd.Process.Kill()
		t.Fatal("no freshness droplet in 5 minutes")
	}
	select {
	case <-w.Done():
	case <-time.After(time.Minute):
		w.Cmd.Process.Kill()
		t.Fatalf("freshness did not stop within a minute of SIGTERM:\n%s", tail(w.Stdout.String(), 20))
	}
	if code, _ := testutil.ExitCode(w.Err()); code != 130 {
		t.Errorf("exit %d after SIGTERM, want 130:\n%s\n%s", code, tail(w.Stdout.String(), 20), w.Stderr.String())
	}
	requireNothingLeft(t)

	// A snapshot that was never built by mp-image has no application.info.
	bare := snapshotOfBase(t, env.godo, "bare", 3*time.Minute)
	defer env.godo.Images.Delete(context.Background(), atoi(bare))
	r = fresh(nil, "--snapshot", bare)
	if r.code == 0 || !strings.Contains(r.stderr, "no /var/lib/digitalocean/application.info") {
		t.Errorf("snapshot without application.info: exit %d, stderr %q", r.code, tail(r.stderr, 5))
	}
	requireNothingLeft(t)
}
