package report

import (
	"fmt"
	"strings"
)

// BuildSummary renders the job summary's build table: one row per step with
// its duration, then droplet, snapshot, regions and API requests used. The
// pipeline appends the validation report's own Markdown after it.
func BuildSummary(m *Manifest) string {
	var b strings.Builder
	title := "mp-image build"
	if m.Mode != "" {
		title += " (" + m.Mode + ")"
	}
	fmt.Fprintf(&b, "## %s\n\n", title)
	if m.Error != "" {
		fmt.Fprintf(&b, "> [!CAUTION]\n> %s\n\n", oneLine(m.Error))
	}
	b.WriteString("| Step | Status | Duration | Detail |\n|---|---|---|---|\n")
	for _, s := range m.Steps {
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s |\n", cell(s.Name), statusIcon(s.Status), s.Status, FormatDuration(s.Duration), cell(s.Detail))
	}
	b.WriteString("\n| | |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", k, cell(v))
		}
	}
	if m.DropletID != 0 {
		d := fmt.Sprintf("%d", m.DropletID)
		if m.DropletIP != "" {
			d += " (" + m.DropletIP + ")"
		}
		row("Droplet", d)
	}
	row("Base image", m.Image)
	row("Region / size", strings.Trim(m.Region+" / "+m.Size, " /"))
	if m.SnapshotID != 0 {
		row("Snapshot", fmt.Sprintf("`%d` %s", m.SnapshotID, m.SnapshotName))
	}
	row("Regions", strings.Join(m.Regions, ", "))
	row("Validation", m.Validation)
	fmt.Fprintf(&b, "| API requests | %d |\n", m.APIRequests)
	if !m.Started.IsZero() && !m.Finished.IsZero() {
		row("Total time", FormatDuration(m.Finished.Sub(m.Started)))
	}
	row("Run ID", m.RunID)
	return b.String()
}

func statusIcon(s string) string {
	switch s {
	case StatusOK:
		return "✅"
	case StatusFailed:
		return "❌"
	case StatusCancelled:
		return "⏹️"
	case StatusSkipped:
		return "⏭️"
	}
	return ""
}

// cell keeps a value inside one Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
