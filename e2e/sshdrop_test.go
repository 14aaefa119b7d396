package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// Issue 7, SSH dropped mid-build: the sshd processes serving the build's
// connection inside the droplet's machine are killed from the host (the
// machine's processes are visible in the host's /proc; the ones of this
// droplet are those whose network namespace has a TCP socket on the
// droplet's address, port 22). An upload is retried and the build
// succeeds; a script is not retried (it may not be idempotent) and the
// failure names it; a drop during the Marketplace cleanup fails clearly
// (cleanup removes the build key, so reconnecting may be impossible). Each
// leaves nothing behind.

// tcpHex is an IPv4 address as /proc/net/tcp writes it (host byte order, x86).
func tcpHex(ip string) string {
	v4 := net.ParseIP(ip).To4()
	return fmt.Sprintf("%02X%02X%02X%02X:0016", v4[3], v4[2], v4[1], v4[0])
}

// sshSessions lists the per-connection sshd processes (not the listener)
// running in the machine whose address is ip.
func sshSessions(ip string) []int {
	want := tcpHex(ip)
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		c := string(cmd)
		if !strings.HasPrefix(c, "sshd: ") || strings.Contains(c, "listener") || strings.HasPrefix(c, "sshd: /") {
			continue
		}
		tcp, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(tcp), "\n") {
			f := strings.Fields(l)
			// Established (01) on the droplet's address, port 22.
			if len(f) > 3 && f[1] == want && f[3] == "01" {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

var activeAt = regexp.MustCompile(`is active at (\d+\.\d+\.\d+\.\d+)`)

// dropRun is one build whose SSH connection is dropped when a line
// containing at appears on stdout.
type dropRun struct {
	stdout, stderr string
	code           int
	killed         int // sshd processes killed
}

func runWithSSHDrop(t *testing.T, mode, dir, at string) dropRun {
	t.Helper()
	requireNothingLeft(t)
	env.srv.Faults().Reset()
	args := append([]string{"build", "--mode", mode, "--dir", dir, "--vendor", "hello"}, apiArgs()...)
	ip, killed := "", -1 // -1: the line never came
	w, err := testutil.StartWatched(testutil.Command(context.Background(), env.bin, env.root, nil, args...), func(l string) {
		if m := activeAt.FindStringSubmatch(l); m != nil && ip == "" {
			ip = m[1]
		}
		if killed < 0 && ip != "" && strings.Contains(l, at) {
			killed = 0
			for _, pid := range sshSessions(ip) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Done():
	case <-time.After(20 * time.Minute):
		w.Cmd.Process.Kill()
		t.Fatal("build did not end in 20 minutes")
	}
	r := dropRun{stdout: w.Stdout.String(), stderr: w.Stderr.String(), killed: max(killed, 0)}
	r.code, _ = testutil.ExitCode(w.Err())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", tail(r.stdout, 60), tail(r.stderr, 20))
		}
	})
	if r.killed == 0 {
		t.Fatalf("no sshd session of the droplet found to kill at %q", at)
	}
	checkNoSecrets(t, r.stdout, r.stderr)
	var said []string
	for _, l := range strings.Split(r.stdout+r.stderr, "\n") {
		if strings.Contains(strings.ToLower(l), "dropped") || strings.HasPrefix(l, "mp-image: ") {
			said = append(said, l)
		}
	}
	t.Logf("killed %d sshd process(es) at %q; exit %d; the tool said:\n%s", r.killed, at, r.code, strings.Join(said, "\n"))
	return r
}

func TestSSHDrops(t *testing.T) {
	need(t)
	t.Run("upload", func(t *testing.T) {
		// 48 MiB of random bytes: incompressible, so the copy takes a while.
		big := make([]byte, 48<<20)
		rand.Read(big)
		sum := sha256.Sum256(big)
		dir := writeRecipe(t, map[string]string{
			"scripts/20-check.sh": "#!/bin/sh\nsha256sum /opt/mp-drop/big.bin\n",
		})
		if err := os.MkdirAll(filepath.Join(dir, "files/opt/mp-drop"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "files/opt/mp-drop/big.bin"), big, 0o644); err != nil {
			t.Fatal(err)
		}
		r := runWithSSHDrop(t, "build_base", dir, "-> files")
		if r.code != 0 {
			t.Errorf("exit %d: a dropped upload must be retried and the build succeed", r.code)
		}
		wantAll(t, r.stdout, "connection dropped", "reconnecting and retrying")
		if !strings.Contains(r.stdout, hex.EncodeToString(sum[:])) {
			t.Errorf("the uploaded file's sha256 on the droplet is not %x", sum)
		}
		requireNothingLeft(t)
	})
	t.Run("script", func(t *testing.T) {
		dir := writeRecipe(t, map[string]string{
			"scripts/10-slow.sh": "#!/bin/sh\necho step-one-started\nsleep 90\necho step-one-finished\n",
		})
		n0 := len(env.srv.Ledger().All())
		r := runWithSSHDrop(t, "build_base", dir, "[scripts/10-slow.sh] step-one-started")
		if r.code == 0 || r.code == 130 {
			t.Errorf("exit %d, want a failure", r.code)
		}
		wantAll(t, r.stderr, "scripts/10-slow.sh", "dropped", "not retried")
		if n := strings.Count(r.stdout, "step-one-started"); n != 1 {
			t.Errorf("the script started %d times, want once (never retried)", n)
		}
		if strings.Contains(r.stdout, "step-one-finished") {
			t.Error("the script ran to its end")
		}
		droplets := 0
		for _, rec := range env.srv.Ledger().All()[n0:] {
			if rec.Kind == localcloud.KindDroplet {
				droplets++
			}
		}
		if droplets != 1 {
			t.Errorf("%d droplets created, want 1", droplets)
		}
		requireNothingLeft(t)
	})
	t.Run("cleanup", func(t *testing.T) {
		snaps0 := len(env.srv.Ledger().Live(localcloud.KindSnapshot))
		r := runWithSSHDrop(t, "build_image", "examples/hello-first-login", "[cleanup] ")
		// Either a clear failure naming the cleanup, or (if the tool can
		// safely redo it) success; never a hang, never a leftover.
		if r.code == 0 {
			t.Logf("the cleanup was redone after the drop and the build succeeded")
			for _, s := range env.srv.Ledger().Live(localcloud.KindSnapshot)[snaps0:] {
				env.godo.Images.Delete(context.Background(), atoi(s.ID))
			}
		} else {
			if r.code == 130 {
				t.Errorf("exit 130 (cancelled), want a failure")
			}
			wantAll(t, r.stderr, "Marketplace cleanup", "dropped during the cleanup", "not retried")
			if n := len(env.srv.Ledger().Live(localcloud.KindSnapshot)); n != snaps0 {
				t.Errorf("%d snapshots left, want none new", n-snaps0)
			}
		}
		requireNothingLeft(t)
	})
}
