package localcloud

import (
	"context"
	"fmt"
	"sync"
)

// NoMachines returns a backend that boots nothing: droplets get addresses
// from 203.0.113.0/24 (TEST-NET-3), for fast API-only tests.
func NoMachines() Machines {
	return &noMachines{running: map[int]bool{}, size: map[int]float64{}, snaps: map[int]float64{}}
}

type noMachines struct {
	mu      sync.Mutex
	next    int
	running map[int]bool
	size    map[int]float64 // used disk per machine, from its image
	snaps   map[int]float64
}

func (n *noMachines) Images() []BaseImage {
	return []BaseImage{
		{Slug: "debian-12-x64", Distribution: "Debian", Name: "12 x64", MinDiskGB: 10, SizeGB: 0.9, Available: true},
		{Slug: "ubuntu-24-04-x64", Distribution: "Ubuntu", Name: "24.04 (LTS) x64", MinDiskGB: 10, SizeGB: 2.36, Available: true},
		{Slug: "ubuntu-22-04-x64", Distribution: "Ubuntu", Name: "22.04 (LTS) x64", MinDiskGB: 10, SizeGB: 2.2, Available: true},
	}
}

func (n *noMachines) Create(ctx context.Context, spec MachineSpec) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	used := 0.9
	for _, im := range n.Images() {
		if im.Slug == spec.ImageSlug {
			used = im.SizeGB
		}
	}
	if spec.SnapshotID != 0 {
		s, ok := n.snaps[spec.SnapshotID]
		if !ok {
			return "", fmt.Errorf("boot droplet %d: snapshot %d is unknown to this backend", spec.ID, spec.SnapshotID)
		}
		used = s
	}
	n.next++
	n.running[spec.ID] = true
	n.size[spec.ID] = used
	return fmt.Sprintf("203.0.113.%d", 2+(n.next-1)%252), nil
}

func (n *noMachines) setRunning(ctx context.Context, id int, on bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.size[id]; !ok {
		return fmt.Errorf("machine %d does not exist", id)
	}
	n.running[id] = on
	return nil
}

func (n *noMachines) Shutdown(ctx context.Context, id int) error { return n.setRunning(ctx, id, false) }
func (n *noMachines) PowerOff(ctx context.Context, id int) error { return n.setRunning(ctx, id, false) }
func (n *noMachines) PowerOn(ctx context.Context, id int) error  { return n.setRunning(ctx, id, true) }
func (n *noMachines) Reboot(ctx context.Context, id int) error   { return n.setRunning(ctx, id, true) }

func (n *noMachines) Running(id int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.running[id]
}

func (n *noMachines) Snapshot(ctx context.Context, id, snapID int) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	used, ok := n.size[id]
	if !ok {
		return 0, fmt.Errorf("snapshot machine %d: it does not exist", id)
	}
	n.snaps[snapID] = used
	return used, nil
}

func (n *noMachines) DeleteSnapshot(_ context.Context, snapID int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.snaps, snapID)
	return nil
}

func (n *noMachines) Delete(_ context.Context, id int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.running, id)
	delete(n.size, id)
	return nil
}

func (n *noMachines) Close(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.running)
	clear(n.size)
	clear(n.snaps)
	return nil
}
