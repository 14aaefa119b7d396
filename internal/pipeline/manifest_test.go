package pipeline

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// TestManifestTimingBlock: the manifest splits the wall time into API
// waits, remote time and the rest (the tool's overhead), overlaps counted once.
func TestManifestTimingBlock(t *testing.T) {
	start := time.Now().Add(-10 * time.Second)
	b := &Build{Cfg: &config.Config{}, Started: start, Timing: &timing.Recorder{}}
	b.Timing.Add(timing.API, start, start.Add(3*time.Second))
	b.Timing.Add(timing.Remote, start.Add(2*time.Second), start.Add(6*time.Second))
	m := b.Manifest(nil)
	if m.Timing == nil {
		t.Fatal("no timing block")
	}
	tm := *m.Timing
	if tm.APIWait != 3 || tm.Remote != 4 {
		t.Errorf("api %v remote %v, want 3 and 4", tm.APIWait, tm.Remote)
	}
	// Wall is about 10 s (the test itself takes a little); overhead is wall - 6.
	if tm.Wall < 10 || tm.Wall > 11 || tm.Overhead < 3.99 || tm.Overhead-(tm.Wall-6) > 1e-6 || tm.Overhead-(tm.Wall-6) < -1e-6 {
		t.Errorf("wall %v overhead %v, want overhead = wall - 6", tm.Wall, tm.Overhead)
	}
	data, _ := json.Marshal(m)
	for _, k := range []string{`"timing":{`, `"wall_s"`, `"api_wait_s"`, `"remote_s"`, `"overhead_s"`} {
		if !strings.Contains(string(data), k) {
			t.Errorf("manifest JSON lacks %s: %s", k, data)
		}
	}
}

// droplet-ip names a server that is still there: not a deleted build droplet.
func TestDropletIPOnlyForARemainingServer(t *testing.T) {
	b := &Build{Cfg: &config.Config{}, Started: time.Now(), Timing: &timing.Recorder{}, IP: "203.0.113.9"}
	if ip := b.Outputs().DropletIP; ip != "" || b.Manifest(nil).DropletIP != "" {
		t.Errorf("droplet-ip %q for a deleted droplet", ip)
	}
	b.Droplet = &godo.Droplet{ID: 7} // kept
	if ip := b.Outputs().DropletIP; ip != "203.0.113.9" {
		t.Errorf("droplet-ip %q for a kept droplet", ip)
	}
}
