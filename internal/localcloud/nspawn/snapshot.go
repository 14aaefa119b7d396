//go:build linux

package nspawn

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// snapshot is a captured disk: a copy of the machine's upper layer stacked
// on the layers the machine itself ran on. Copying only the upper layer
// keeps a snapshot of a fresh build to megabytes and a few hundred ms.
type snapshot struct {
	dir    string
	lowers []string // topmost first: this snapshot's layer, then its parents
	bytes  int64    // used size of the whole stack
}

// Snapshot captures the stopped machine's disk as image snapID and returns
// its used size in GB.
func (b *Backend) Snapshot(ctx context.Context, id int, snapID int) (float64, error) {
	m, err := b.machine(id)
	if err != nil {
		return 0, err
	}
	m.act.Lock()
	defer m.act.Unlock()
	if running, _, _ := m.state(); running {
		return 0, fmt.Errorf("snapshot droplet %d: the machine is running; shut it down first", id)
	}
	b.mu.Lock()
	_, dup := b.snapshots[snapID]
	b.mu.Unlock()
	if dup {
		return 0, fmt.Errorf("snapshot %d already exists", snapID)
	}
	dir := filepath.Join(b.stateDir, "snapshots", strconv.Itoa(snapID))
	layer := filepath.Join(dir, "layer")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("snapshot %d: %w", snapID, err)
	}
	// -a keeps owners, modes, xattrs (overlay's opaque-dir marks) and the
	// whiteout devices that record deletions; reflinks make it free where
	// the filesystem can.
	if err := run(ctx, "cp", "-a", "--reflink=auto", filepath.Join(m.dir, "upper"), layer); err != nil {
		_ = removeTree(dir)
		return 0, fmt.Errorf("snapshot droplet %d: copy its disk: %w", id, err)
	}
	used, err := dirBytes(ctx, layer)
	if err != nil {
		_ = removeTree(dir)
		return 0, fmt.Errorf("snapshot droplet %d: %w", id, err)
	}
	s := &snapshot{dir: dir, lowers: append([]string{layer}, m.lowers...), bytes: m.baseBytes + used}
	b.mu.Lock()
	b.snapshots[snapID] = s
	b.mu.Unlock()
	return gb(s.bytes), nil
}

// DeleteSnapshot drops a captured image. Machines and snapshots made from
// it keep working: its layer stays on disk until the last of them is gone
// or the backend closes, as a DigitalOcean droplet outlives its source
// snapshot.
func (b *Backend) DeleteSnapshot(ctx context.Context, snapID int) error {
	b.mu.Lock()
	s, ok := b.snapshots[snapID]
	if !ok {
		b.mu.Unlock()
		return nil // already gone: deleting is idempotent, as for NoMachines
	}
	delete(b.snapshots, snapID)
	layer := s.lowers[0]
	inUse := false
	for _, m := range b.machines {
		inUse = inUse || slices.Contains(m.lowers, layer)
	}
	for _, o := range b.snapshots {
		inUse = inUse || slices.Contains(o.lowers, layer)
	}
	b.mu.Unlock()
	if inUse {
		return nil
	}
	if err := removeTree(s.dir); err != nil {
		return fmt.Errorf("delete snapshot %d: %w", snapID, err)
	}
	return nil
}
