//go:build linux

package nspawn

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// BenchmarkBootToSSH measures Create until root's SSH login works, and
// reports what one idle machine costs in memory (PSS of every process in
// its cgroup, nspawn included) once cloud-init has finished.
//
//	go test -run '^$' -bench BootToSSH -benchtime 5x ./internal/localcloud/nspawn/
func BenchmarkBootToSSH(bm *testing.B) {
	b := newTestBackend(bm)
	client := newKeyPair(bm)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var total time.Duration
	var pss int64
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		id := 1000 + i
		start := time.Now()
		ip, err := b.Create(ctx, localcloud.MachineSpec{ID: id, ImageSlug: "debian-12-x64", InstanceID: fmt.Sprintf("i-bench-%d", id), SSHKeys: []string{client.authorized}})
		if err != nil {
			bm.Fatal(err)
		}
		c, _ := testutil.DialRoot(ctx, bm, ip, client.signer)
		total += time.Since(start)
		bm.StopTimer()
		if i == bm.N-1 {
			if _, err := testutil.SSHRun(c, "cloud-init status --wait"); err != nil {
				bm.Logf("cloud-init: %v", err)
			}
			time.Sleep(3 * time.Second) // let boot-time jobs finish: idle, not booting
			if pss, err = b.MemoryPSS(id); err != nil {
				bm.Fatal(err)
			}
		}
		c.Close()
		if err := b.Delete(ctx, id); err != nil {
			bm.Fatal(err)
		}
		bm.StartTimer()
	}
	bm.ReportMetric(float64(total.Milliseconds())/float64(bm.N), "ms-boot-to-ssh")
	bm.ReportMetric(float64(pss)/(1<<20), "MB-PSS/idle-machine")
}
