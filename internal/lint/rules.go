package lint

import (
	"fmt"
	"path"
	"strings"
)

// recipeRules are the rules that look at the whole recipe or template: a
// unit enabled that nothing installs, a ForceCommand nothing removes.
func recipeRules(scripts []*script, image []imageFile) []Finding {
	return append(unitFindings(scripts, image), forceCommandFindings(scripts, image)...)
}

// baseUnits come with the Debian and Ubuntu images DigitalOcean builds from
// (and its own agents): enabling them needs no install.
var baseUnits = map[string]bool{
	"ssh": true, "sshd": true, "ufw": true, "cron": true, "rsyslog": true, "apparmor": true, "unattended-upgrades": true,
	"apt-daily": true, "apt-daily-upgrade": true, "networking": true, "fstrim": true, "getty": true, "serial-getty": true,
	"snapd": true, "chrony": true, "logrotate": true, "man-db": true, "dbus": true, "polkit": true, "multipathd": true,
	"cloud-init": true, "cloud-init-local": true, "cloud-config": true, "cloud-final": true, "droplet-agent": true,
	"do-agent": true, "e2scrub_all": true, "motd-news": true, "console-setup": true, "keyboard-setup": true, "ondemand": true,
}

// unitSuffixes are the unit types a recipe enables.
var unitSuffixes = []string{".service", ".socket", ".timer", ".path", ".mount", ".target"}

// unitBase is a unit's name without its type and instance: nginx.service,
// postgresql@15-main -> nginx, postgresql.
func unitBase(unit string) (base string, target bool) {
	u := strings.ToLower(unit)
	for _, suf := range unitSuffixes {
		if strings.HasSuffix(u, suf) {
			target = suf == ".target"
			u = strings.TrimSuffix(u, suf)
			break
		}
	}
	base, _, _ = strings.Cut(u, "@")
	return base, target
}

// unitFindings reports `systemctl enable` of a unit the recipe never
// installs: no unit file of that name among its files, no word naming it
// (a package installed, a unit file written) in any script, and not part of
// the base image. Often a typo; at boot it is an error in the journal and a
// service that never runs.
func unitFindings(scripts []*script, image []imageFile) []Finding {
	known := map[string]bool{}
	for _, f := range image {
		b, _ := unitBase(path.Base(f.remote))
		known[b] = true
	}
	var words []string
	for _, s := range scripts {
		words = append(words, s.words...)
	}
	mentioned := func(base string) bool {
		token := strings.FieldsFunc(base, func(r rune) bool { return r == '-' || r == '_' || r == '.' })
		for _, w := range words {
			if strings.Contains(w, base) || (len(token) > 0 && len(token[0]) >= 3 && strings.Contains(w, token[0])) {
				return true
			}
		}
		return false
	}
	var out []Finding
	for _, s := range scripts {
		for _, u := range s.enabled {
			base, target := unitBase(u.unit)
			if target || base == "" || known[base] || baseUnits[base] || strings.HasPrefix(base, "systemd-") || mentioned(base) {
				continue
			}
			out = append(out, s.finding(u.line, "systemctl-unit", Warning, fmt.Sprintf(
				"systemctl enable %s: nothing in the recipe installs %s (no unit file, no package or script naming it): check the name, or install the unit first", u.unit, u.unit)))
		}
	}
	return out
}

// forceCommandFindings: a ForceCommand added to sshd's configuration (by a
// script or a file of the recipe) that no per-instance script removes makes
// every login of every droplet run only that command, for good.
func forceCommandFindings(scripts []*script, image []imageFile) []Finding {
	removed := false
	for _, s := range scripts {
		removed = removed || (s.perInstance && s.forceRemoved) || s.installsRemoval
	}
	if removed {
		return nil
	}
	const msg = "adds a ForceCommand to sshd's configuration that no per-instance/ script removes: every login of every droplet would run only that command; remove it on first boot (e.g. sed -i '/ForceCommand/d' in a per-instance script)"
	var out []Finding
	for _, s := range scripts {
		for _, ln := range s.forceAdds {
			out = append(out, s.finding(ln, "force-command", Error, msg))
		}
	}
	for _, f := range image {
		if !strings.HasPrefix(f.remote, "/etc/ssh/") {
			continue
		}
		for i, l := range strings.Split(string(f.body), "\n") {
			if hasForceCommandLine(l) {
				out = append(out, Finding{File: f.local, Line: i + 1, Rule: "force-command", Severity: Error, Message: msg})
			}
		}
	}
	return out
}
