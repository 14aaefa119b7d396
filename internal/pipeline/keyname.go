package pipeline

import (
	"strings"
	"time"
)

// Account keys carry no tags and no creation time, so their names carry both:
// mp-image-<run id>-<UTC time> (mp-image-boot-... for the boot test's key).
// reap finds a killed run's key by the run id and applies --older-than to it.
const keyTimeLayout = "20060102T150405Z"

// KeyName names the account key of a run made at t.
func KeyName(runID string, boot bool, t time.Time) string {
	p := "mp-image-"
	if boot {
		p += "boot-"
	}
	return p + runID + "-" + t.UTC().Format(keyTimeLayout)
}

// ParseKeyName reads a key name of this tool: its run id and, when the name
// has one (older versions wrote none), its creation time.
func ParseKeyName(name string) (runID string, created time.Time, ok bool) {
	rest, ok := strings.CutPrefix(name, "mp-image-")
	if !ok {
		return "", time.Time{}, false
	}
	rest = strings.TrimPrefix(rest, "boot-")
	if i := strings.LastIndexByte(rest, '-'); i > 0 {
		if t, err := time.Parse(keyTimeLayout, rest[i+1:]); err == nil {
			return rest[:i], t, true
		}
	}
	return rest, time.Time{}, rest != ""
}
