package cloud

import (
	"context"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// TestPollFollowsTheAdvertisedTimeScale: the client polls the local cloud at
// time scale 1 exactly as it polls DigitalOcean (same expectations, tick and
// ceiling), and shrinks all three for a fast local cloud, whatever the URL.
func TestPollFollowsTheAdvertisedTimeScale(t *testing.T) {
	real := pollFor(30*time.Second, 0, 0, nil, nil)
	for _, scale := range []float64{0.01, 1} {
		srv, err := localcloud.Start(context.Background(), localcloud.Options{Token: "tok", TimeScale: scale})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close(context.Background()) })
		rec := &timing.Recorder{}
		c, err := New(Options{Token: "tok", APIURL: srv.URL(), Timing: rec})
		if err != nil {
			t.Fatal(err)
		}
		if c.tr.TimeScale() != 0 {
			t.Fatalf("scale known before any answer: %v", c.tr.TimeScale())
		}
		if _, err := c.Droplet(context.Background(), 424242); err == nil {
			t.Fatal("droplet 424242 exists?")
		}
		if got := c.tr.TimeScale(); got != scale {
			t.Fatalf("advertised scale %v, client saw %v", scale, got)
		}
		if rec.Busy(timing.API) <= 0 {
			t.Errorf("scale %v: the request was not recorded as API time", scale)
		}
		p := c.poll(c.o.ExpectActive)
		switch scale {
		case 1:
			if p.Expect != real.Expect || p.Tick != real.Tick || p.Max != real.Max {
				t.Errorf("scale 1 polls %+v, the real API %+v", p, real)
			}
		case 0.01:
			if p.Expect != 300*time.Millisecond || p.Tick != 200*time.Millisecond || p.Max != 2*time.Second {
				t.Errorf("scale 0.01: expect %v tick %v max %v, want 300ms 200ms 2s", p.Expect, p.Tick, p.Max)
			}
		}
	}
}

func TestPollForIgnoresNonsenseScales(t *testing.T) {
	base := pollFor(10*time.Second, time.Second, 0, nil, nil)
	for _, s := range []float64{-1, 1, 5} {
		if p := pollFor(10*time.Second, time.Second, s, nil, nil); p.Expect != base.Expect || p.Tick != base.Tick || p.Max != base.Max {
			t.Errorf("scale %v changed the poll: %+v", s, p)
		}
	}
}

// looksFor simulates Poll's schedule for a change at `change`: the number of
// looks and how late the last one comes after the change.
func looksFor(p Poll, change time.Duration) (looks int, delay time.Duration) {
	s := p.schedule()
	at := s.first()
	for {
		looks++
		if at >= change {
			return looks, at - change
		}
		at += s.after(at)
	}
}

// TestScheduleAtDigitalOceanTimings: issue 9's realistic build (active 30 s,
// shutdown 10 s, snapshot about 3 min) costs few looks per wait, each change
// noticed within 2% of the expectation or a tick.
func TestScheduleAtDigitalOceanTimings(t *testing.T) {
	cases := []struct {
		name           string
		expect, change time.Duration
		maxLooks       int
		maxDelay       time.Duration
	}{
		{"active", 30 * time.Second, 30 * time.Second, 6, time.Second},
		{"shutdown", 10 * time.Second, 10 * time.Second, 5, time.Second},
		{"snapshot on time", 3 * time.Minute, 190 * time.Second, 11, 3600 * time.Millisecond},
		{"snapshot early", 3 * time.Minute, 100 * time.Second, 1, 8 * time.Second},
		{"snapshot late", 3 * time.Minute, 6 * time.Minute, 25, 15 * time.Second},
	}
	for _, c := range cases {
		looks, delay := looksFor(Poll{Expect: c.expect}, c.change)
		t.Logf("%s: %d looks, noticed %s late", c.name, looks, delay)
		if looks > c.maxLooks || delay > c.maxDelay {
			t.Errorf("%s: %d looks (max %d), noticed %s late (max %s)", c.name, looks, c.maxLooks, delay, c.maxDelay)
		}
	}
	// Against a fixed 3 s poller on the same timeline: fewer looks.
	total, fixed := 0, 0
	for _, c := range cases[:3] {
		n, _ := looksFor(Poll{Expect: c.expect}, c.change)
		total += n
		fixed += int(c.change/(3*time.Second)) + 1
	}
	if total*2 > fixed {
		t.Errorf("%d looks, a fixed 3 s poller %d: want at most half", total, fixed)
	}
}
