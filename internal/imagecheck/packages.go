package imagecheck

import (
	"fmt"
	"regexp"
	"strings"
)

// Packages is the installed software as the package manager lists it.
type Packages struct {
	Manager string    // dpkg or rpm; "" when neither was found
	List    []Package // in the package manager's order (dpkg: by name)
}

// Package is one installed package.
type Package struct {
	Name          string
	Version       string // as the package manager spells it (epoch included)
	Arch          string
	Source        string // source package ("" when the manager does not say)
	SourceVersion string
}

// Find returns the installed package called name.
func (p Packages) Find(name string) (Package, bool) {
	for _, x := range p.List {
		if x.Name == name {
			return x, true
		}
	}
	return Package{}, false
}

func parsePackages(p *Packages, lines []string) error {
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "\t")
		switch k {
		case "manager":
			p.Manager = v
		case "pkg":
			f := strings.Split(v, "\t")
			if len(f) < 4 || f[0] == "" {
				return fmt.Errorf("packages: line %q: want name, version, architecture, source", l)
			}
			x := Package{Name: f[0], Version: f[1], Arch: f[2]}
			switch p.Manager {
			case "rpm":
				x.Source, x.SourceVersion = splitSRPM(f[3])
			default:
				x.Source = f[3]
				if len(f) > 4 {
					x.SourceVersion = f[4]
				}
			}
			p.List = append(p.List, x)
		}
	}
	return nil
}

// splitSRPM reads "bash-5.1.8-6.el9.src.rpm" as bash and 5.1.8-6.el9.
func splitSRPM(s string) (name, version string) {
	if s == "(none)" {
		return "", "" // gpg-pubkey and the like have no source
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, ".src.rpm"), ".nosrc.rpm")
	i := strings.LastIndex(s, "-")
	if i <= 0 {
		return s, ""
	}
	j := strings.LastIndex(s[:i], "-")
	if j <= 0 {
		return s, ""
	}
	return s[:j], s[j+1:]
}

// Pending is an upgrade apt would install: `apt-get --just-print upgrade`'s
// "Inst name [installed] (candidate origin [arch])" line.
type Pending struct {
	Name      string
	Installed string
	Candidate string
	Origin    string // archive and suite, e.g. "Debian-Security:12/stable-security"
	Security  bool   // from a security suite, as the security-updates rule counts it
}

var instLine = regexp.MustCompile(`^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+) ([^\[]*?)\s*(?:\[[^\]]*\])?\)`)

func parsePending(l string) (Pending, bool) {
	m := instLine.FindStringSubmatch(l)
	if m == nil {
		return Pending{}, false
	}
	return Pending{Name: m[1], Installed: m[2], Candidate: m[3], Origin: strings.TrimSpace(m[4]),
		Security: strings.Contains(strings.ToLower(l), "security")}, true
}

// AppInfoValue reads one key of application.info's key="value" lines.
func AppInfoValue(content, key string) string { return parseKV(content)[key] }
