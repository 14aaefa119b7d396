package pipeline

import (
	"fmt"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// Manifest is the build's record: IDs, names, timings; never a secret.
func (b *Build) Manifest(runErr error) *report.Manifest {
	finished := time.Now()
	t := b.Timing.Summarize(finished.Sub(b.Started))
	var names []string
	var spans []timing.Interval
	for _, r := range b.Records {
		if r.Duration > 0 {
			start := b.Started.Add(r.Offset)
			names, spans = append(names, r.Name), append(spans, timing.Interval{Start: start, End: start.Add(r.Duration)})
		}
	}
	overlaps, saved := timing.Overlapping(names, spans)
	t.Overlaps, t.Saved = overlaps, saved.Seconds()
	m := &report.Manifest{
		DropletIP: b.remainingIP(), RunID: b.RunID, Mode: b.Cfg.Mode, Image: b.Cfg.Image, Region: b.Cfg.Region,
		Size: b.Cfg.Size, APIURL: b.Cfg.APIURL, Version: Version, AppName: b.Cfg.ApplicationName,
		AppVersion: b.Cfg.ApplicationVersion, ReportPath: b.ReportPath,
		Steps: b.Records, APIRequests: b.Requests(), Started: b.Started, Finished: finished,
		Regions: []string{}, Timing: &t,
	}
	if b.Plan != nil {
		m.Recipe = b.Plan.Source
	}
	if b.SBOMSHA256 != "" {
		m.SBOM, m.SBOMSHA256 = b.Cfg.SBOM, b.SBOMSHA256
	}
	if b.Cfg.Provenance != "" && runErr == nil {
		m.Provenance = b.Cfg.Provenance
	}
	if b.Snapshot != nil {
		m.SnapshotID, m.SnapshotName = b.Snapshot.ID, b.Snapshot.Name
		m.Regions = append(m.Regions, b.Regions...)
	}
	if b.Droplet != nil {
		m.DropletID = b.Droplet.ID
	}
	if b.Validation != nil {
		m.Validation = b.Validation.Verdict()
	}
	if runErr != nil {
		m.Error = runErr.Error()
		if b.Cancelled {
			m.Error = "cancelled: " + m.Error
		}
	}
	return m
}

func writeManifest(b *Build, m *report.Manifest) error {
	if b.Cfg.Manifest == "" {
		return nil
	}
	if err := report.WriteManifest(b.Cfg.Manifest, m); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	return nil
}

func summaryMarkdown(b *Build, m *report.Manifest) string {
	s := report.BuildSummary(m)
	if b.Validation != nil {
		s += "\n" + b.Validation.Markdown()
	}
	return s
}
