package report

import (
	"strconv"
	"strings"
)

// pairs lists the outputs under their action output names, in action.yml order.
func (o Outputs) pairs() [][2]string {
	if o.Stale != "" {
		// mp-image freshness reports these and the snapshot it checked, nothing else.
		return [][2]string{{"stale", o.Stale}, {"reasons", o.Reasons}, {"snapshot-id", o.SnapshotID}, {"snapshot-name", o.SnapshotName}}
	}
	droplet := ""
	if o.DropletID != 0 {
		droplet = strconv.Itoa(o.DropletID)
	}
	return [][2]string{
		{"snapshot-id", o.SnapshotID},
		{"snapshot-name", o.SnapshotName},
		{"snapshot-regions", strings.Join(o.SnapshotRegions, ",")},
		{"droplet-id", droplet},
		{"droplet-ip", o.DropletIP},
		{"validation", o.Validation},
		{"report", o.ReportPath},
		{"manifest", o.ManifestPath},
		{"ssh-key-path", o.KeyPath},
		{"sbom", o.SBOMPath},
		{"provenance", o.ProvenancePath},
	}
}

// BuildOutputNames are the outputs a build writes (freshness writes others).
func BuildOutputNames() []string {
	var names []string
	for _, kv := range (Outputs{}).pairs() {
		names = append(names, kv[0])
	}
	return names
}

// OutputNames are the action's output names, as action.yml declares them.
func OutputNames() []string {
	return append(BuildOutputNames(), "stale", "reasons")
}
