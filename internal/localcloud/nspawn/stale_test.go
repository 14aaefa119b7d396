//go:build linux

package nspawn

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// TestHelperKilledBackend is not a test: TestCleanupStaleAfterKill runs the
// test binary with MPI_HELPER_KILLED=1 to get a backend with a running
// machine in a process it can SIGKILL.
func TestHelperKilledBackend(t *testing.T) {
	if os.Getenv("MPI_HELPER_KILLED") != "1" {
		t.Skip("helper process for TestCleanupStaleAfterKill")
	}
	ctx := context.Background()
	b, err := New(ctx, Options{})
	if err != nil {
		fmt.Println("ERROR", err)
		return
	}
	if _, err := b.Create(ctx, localcloud.MachineSpec{ID: 7, ImageSlug: "debian-12-x64", InstanceID: "i-killed-7"}); err != nil {
		fmt.Println("ERROR", err)
		return
	}
	fmt.Println("READY", b.Prefix(), b.StateDir())
	time.Sleep(10 * time.Minute) // killed long before
}

func TestCleanupStaleAfterKill(t *testing.T) {
	needMachines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperKilledBackend$", "-test.v")
	cmd.Env = append(os.Environ(), "MPI_HELPER_KILLED=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var prefix, state string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 1 && f[0] == "ERROR" {
			_ = cmd.Process.Kill()
			t.Fatalf("helper: %s", sc.Text())
		}
		if len(f) == 3 && f[0] == "READY" {
			prefix, state = f[1], f[2]
			break
		}
	}
	if prefix == "" {
		_ = cmd.Process.Kill()
		t.Fatal("helper never reported a running machine")
	}
	go func() { _, _ = drain(sc) }()
	if left := Leftovers(prefix, state); len(left) == 0 {
		t.Fatal("a running backend shows no host objects: Leftovers cannot see anything")
	}
	// A live backend is not touched.
	if err := CleanupStale(ctx, t.Logf); err != nil {
		t.Fatalf("CleanupStale with the owner alive: %v", err)
	}
	if _, err := os.Stat("/run/netns/" + prefix + "-7"); err != nil {
		t.Fatalf("CleanupStale removed a live backend's machine: %v", err)
	}
	// SIGKILL, as a cancelled CI job gets: Pdeathsig halts the machine and the
	// proxy, but mounts, namespaces, links, cgroups and the state dir stay.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	time.Sleep(500 * time.Millisecond)
	left := Leftovers(prefix, state)
	if len(left) == 0 {
		t.Fatal("killing the helper left nothing: this test would prove nothing")
	}
	t.Logf("left by the killed backend:\n%s", strings.Join(left, "\n"))
	if err := CleanupStale(ctx, t.Logf); err != nil {
		t.Fatalf("CleanupStale: %v", err)
	}
	if left := Leftovers(prefix, state); len(left) > 0 {
		t.Fatalf("after CleanupStale, still on the host:\n%s", strings.Join(left, "\n"))
	}
}

func drain(sc *bufio.Scanner) (int, error) {
	n := 0
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}
