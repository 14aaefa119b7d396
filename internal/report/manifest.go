package report

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// Manifest is the JSON record of a build (--manifest FILE). It never holds
// secrets: no token, no private key, only IDs, names and timings.
type Manifest struct {
	SnapshotID   int      `json:"snapshot_id"`
	SnapshotName string   `json:"snapshot_name"`
	Regions      []string `json:"regions"`
	DropletID    int      `json:"droplet_id"`
	DropletIP    string   `json:"droplet_ip,omitempty"`
	Validation   string   `json:"validation"` // pass | warn | fail

	RunID      string `json:"run_id"`
	Mode       string `json:"mode,omitempty"`
	Image      string `json:"image,omitempty"`
	Region     string `json:"region,omitempty"`
	Size       string `json:"size,omitempty"`
	APIURL     string `json:"api_url,omitempty"`
	Recipe     string `json:"recipe,omitempty"` // dir or packer template
	Version    string `json:"tool_version,omitempty"`
	AppName    string `json:"application_name,omitempty"`
	AppVersion string `json:"application_version,omitempty"`
	ReportPath string `json:"report,omitempty"`
	SBOM       string `json:"sbom,omitempty"`        // SBOM file as given by the sbom option
	SBOMSHA256 string `json:"sbom_sha256,omitempty"` // its digest, so the manifest pins it
	Provenance string `json:"provenance,omitempty"`  // statement about this manifest (hence no digest here)

	Steps       []StepRecord `json:"steps"`
	APIRequests int          `json:"api_requests"`
	Started     time.Time    `json:"started"`
	Finished    time.Time    `json:"finished"`
	Error       string       `json:"error,omitempty"`
	// Timing splits the wall time: API waits, remote operations, and the
	// tool's own overhead (the rest).
	Timing *timing.Summary `json:"timing,omitempty"`
}

// WriteManifest writes m as indented JSON, atomically: a reader never sees half a file.
func WriteManifest(path string, m *Manifest) error {
	if m == nil {
		return fmt.Errorf("manifest %s: nothing to write", path)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: encode: %w", err)
	}
	data = append(data, '\n')
	if err := WriteFileAtomic(path, data); err != nil {
		return fmt.Errorf("manifest: %w (check the manifest path)", err)
	}
	return nil
}

// ReadManifest reads a manifest written by WriteManifest.
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w (was it written by mp-image?)", path, err)
	}
	return &m, nil
}
