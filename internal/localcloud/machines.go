package localcloud

import "context"

// Machines is what the API layer needs from whatever runs droplets: real
// systemd-nspawn machines (package nspawn) or nothing at all (NoMachines, for
// fast API-only tests). Every method is synchronous: it returns when the
// machine has really reached the state asked for, so the API can report
// "active" or "off" truthfully.
type Machines interface {
	// Images lists the base images this backend can boot, by slug.
	Images() []BaseImage
	// Create boots a machine for droplet spec.ID and returns its public IPv4.
	Create(ctx context.Context, spec MachineSpec) (ipv4 string, err error)
	// Shutdown asks the OS to halt (ACPI-like) and returns once it stopped;
	// it returns ctx.Err() if the machine did not stop in time.
	Shutdown(ctx context.Context, id int) error
	// PowerOff stops the machine at once (pulls the plug).
	PowerOff(ctx context.Context, id int) error
	// PowerOn boots a stopped machine again with the same disk.
	PowerOn(ctx context.Context, id int) error
	// Reboot restarts the OS.
	Reboot(ctx context.Context, id int) error
	// Running reports whether the machine is up.
	Running(id int) bool
	// Snapshot captures the stopped machine's disk as image snapID and
	// returns the used size in GB (what the API reports as size_gigabytes).
	Snapshot(ctx context.Context, id int, snapID int) (sizeGB float64, err error)
	// DeleteSnapshot drops a captured image.
	DeleteSnapshot(ctx context.Context, snapID int) error
	// Delete stops the machine if needed and removes every trace of it.
	Delete(ctx context.Context, id int) error
	// Close stops every machine and removes every mount, namespace, link,
	// bridge, cgroup and process the backend made.
	Close(ctx context.Context) error
}

// BaseImage is a distribution image a backend can boot.
type BaseImage struct {
	Slug         string // e.g. "debian-12-x64"
	Distribution string // e.g. "Debian"
	Name         string // e.g. "12 x64"
	MinDiskGB    int
	SizeGB       float64
	Available    bool   // false when no mirror is configured for it
	Reason       string // why it is unavailable, shown in API errors
}

// MachineSpec is what a droplet create asks the backend to boot.
type MachineSpec struct {
	ID         int
	Name       string
	ImageSlug  string // base image slug, or "" when booting a snapshot
	SnapshotID int    // snapshot image id, or 0
	InstanceID string // fresh per droplet: per-instance scripts run again
	Hostname   string
	UserData   string   // the create request's user_data, verbatim
	SSHKeys    []string // authorized_keys lines from the request's ssh_keys
	// IgnoreHostKeys makes the machine generate its own host keys instead of
	// the ones user_data delivers (fault injection: a man in the middle).
	IgnoreHostKeys bool
}
