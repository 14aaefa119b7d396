package report

import (
	"strconv"
	"strings"
)

// pairs lists the outputs under their action output names, in action.yml order.
func (o Outputs) pairs() [][2]string {
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
	}
}

// OutputNames are the action's output names, as action.yml declares them.
func OutputNames() []string {
	var names []string
	for _, kv := range (Outputs{}).pairs() {
		names = append(names, kv[0])
	}
	return names
}
