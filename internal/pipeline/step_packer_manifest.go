package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// packerManifest writes what a Packer template's manifest post-processor
// asks for, in Packer's own format, so jq steps written for Packer read it
// unchanged (`.builds[-1].artifact_id | split(":")[1]` is the snapshot ID).
type packerManifest struct{ nothingToUndo }

func (packerManifest) String() string { return "write the Packer manifest" }
func (packerManifest) Declare() Decl  { return Decl{Needs: OptPackerManifest | Snapshot} }

// packerBuild is one entry of a Packer manifest's builds list.
type packerBuild struct {
	Name          string            `json:"name"`
	BuilderType   string            `json:"builder_type"`
	BuildTime     int64             `json:"build_time,omitempty"`
	Files         []any             `json:"files"` // a DigitalOcean snapshot has no files: null, as Packer writes
	ArtifactID    string            `json:"artifact_id"`
	PackerRunUUID string            `json:"packer_run_uuid"`
	CustomData    map[string]string `json:"custom_data"`
}

type packerManifestFile struct {
	Builds      []packerBuild `json:"builds"`
	LastRunUUID string        `json:"last_run_uuid"`
}

func (packerManifest) Run(ctx context.Context, b *Build) error {
	path := b.Plan.Manifest
	var m packerManifestFile
	// Packer appends to an existing manifest: earlier runs' builds stay.
	if data, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(data))) > 0 {
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("%s exists but is not a Packer manifest (%v): move it away or change the post-processor's output", path, err)
		}
	} else if err != nil && !os.IsNotExist(err) {
		return err
	}
	uuid, err := newUUID()
	if err != nil {
		return err
	}
	name := b.Plan.Builder.Name
	if name == "" {
		name = "digitalocean"
	}
	e := packerBuild{Name: name, BuilderType: "digitalocean", PackerRunUUID: uuid, CustomData: b.Plan.ManifestCustomData,
		// DigitalOcean's artifact ID: its regions, a colon, the snapshot ID.
		ArtifactID: strings.Join(b.Regions, ",") + ":" + fmt.Sprint(b.Snapshot.ID)}
	if !b.Plan.ManifestStripTime {
		e.BuildTime = time.Now().Unix()
	}
	m.Builds = append(m.Builds, e)
	m.LastRunUUID = uuid
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("writing the Packer manifest: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the Packer manifest: %w", err)
	}
	b.logf("Packer manifest %s: artifact_id %s", path, e.ArtifactID)
	return nil
}

// newUUID is a random (version 4) UUID, as Packer's run UUIDs are.
func newUUID() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
}
