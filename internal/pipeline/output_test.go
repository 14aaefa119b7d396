package pipeline

import (
	"fmt"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

func TestShellLine(t *testing.T) {
	const p = "/tmp/mp-image-ab12-001.sh"
	exit := fmt.Errorf("wrapped: %w", &remote.ExitError{Name: "scripts/10.sh", Code: 127})
	for _, tc := range []struct {
		stderr []string
		want   int
	}{
		{[]string{p + ": 5: nginxx: not found"}, 5},                     // dash
		{[]string{p + ": line 12: nginxx: command not found"}, 12},      // bash
		{[]string{p + ": 5: nginxx: not found", "cleanup: warning"}, 5}, // not the very last line
		{[]string{p + ": 3: a: not found", p + ": 9: b: not found"}, 9}, // the last one named
		{[]string{"/tmp/other.sh: 5: nginxx: not found"}, 0},            // another script's line
		{[]string{"E: Unable to locate package nginxx"}, 0},             // apt says no line
		{nil, 0},
	} {
		if got := shellLine(exit, tc.stderr, p); got != tc.want {
			t.Errorf("shellLine(%q) = %d, want %d", tc.stderr, got, tc.want)
		}
	}
	if got := shellLine(fmt.Errorf("plain"), []string{p + ": 5: x: not found"}, p); got != 0 {
		t.Errorf("a non-exit error gave line %d", got)
	}
}

// events records what reaches a sink.
type events struct {
	report.Nop
	lines    []string
	progress []report.Progress
}

func (e *events) Output(source, line string) { e.lines = append(e.lines, "["+source+"] "+line) }
func (e *events) Progress(p report.Progress) { e.progress = append(e.progress, p) }

// The cleanup's line per zero-filled chunk becomes progress; its other
// lines stay output.
func TestEraseProgress(t *testing.T) {
	ev := &events{}
	f := eraseProgress(&Build{Out: ev})
	for _, l := range []string{
		"-> secure erase: zero-filling about 24000 MiB of free space (No space left on device ends it, as expected)",
		"secure erase: 256 MiB written (1%)",
		"secure erase: 12288 MiB written (51%)",
		"secure erase: done, 24010 MiB zeroed",
	} {
		f(l)
	}
	if len(ev.lines) != 2 || ev.lines[1] != "[cleanup] secure erase: done, 24010 MiB zeroed" {
		t.Errorf("output lines %q", ev.lines)
	}
	if len(ev.progress) != 2 || ev.progress[1] != (report.Progress{Task: "secure erase", Fraction: 0.51, Text: "51%, 12288 MiB written"}) {
		t.Errorf("progress %+v", ev.progress)
	}
}
