package cloud

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// noUbuntu is a backend without an Ubuntu mirror, as the local cloud often is.
type noUbuntu struct{ localcloud.Machines }

func (n noUbuntu) Images() []localcloud.BaseImage {
	imgs := n.Machines.Images()
	for i := range imgs {
		if strings.HasPrefix(imgs[i].Slug, "ubuntu") {
			imgs[i].Available, imgs[i].Reason = false, "no Ubuntu mirror configured"
		}
	}
	return imgs
}

// Issue 14: the emulator listed ubuntu-24-04-x64 as available, then refused
// to create it. It is listed in no region now, and preflight says why
// before anything is created.
func TestPreflightRefusesAnImageNoDropletCanUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := localcloud.Start(ctx, localcloud.Options{Token: "tok", TimeScale: 0.001, Machines: noUbuntu{localcloud.NoMachines()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	c, err := New(Options{Token: "tok", APIURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.CheckPlacement(ctx, "nyc3", "s-1vcpu-1gb", "ubuntu-24-04-x64", nil)
	if err == nil || !strings.Contains(err.Error(), `image "ubuntu-24-04-x64" is not available in any region (no Ubuntu mirror configured)`) {
		t.Errorf("CheckPlacement = %v, want the image refused with the reason", err)
	}
	if _, _, err := c.CheckPlacement(ctx, "nyc3", "s-1vcpu-1gb", "debian-12-x64", nil); err != nil {
		t.Errorf("debian-12-x64: %v", err)
	}
}
