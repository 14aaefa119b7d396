package vendorapi

import (
	"fmt"
	"strings"
)

// ParseSoftware reads the "software included" list from the command line
// or an action input. Each entry may hold several items separated by
// commas or newlines (the action input's list form); blank items and items
// starting with # are skipped. One item is
//
//	name[=version][;key=value]...
//
// where key is website, notes (or releaseNotes), license (or licenseType),
// licenseLink or package (the installed package whose version a build fills in
// when the version is left out), for example "nginx=1.24.0;website=https://nginx.org;license=BSD-2-Clause".
// It returns nil when there are no items.
func ParseSoftware(entries []string) ([]Software, error) {
	var out []Software
	seen := map[string]bool{}
	for _, e := range entries {
		for item := range strings.FieldsFuncSeq(e, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
			item = strings.TrimSpace(item)
			if item == "" || strings.HasPrefix(item, "#") {
				continue
			}
			sw, err := parseItem(item)
			if err != nil {
				return nil, err
			}
			key := strings.ToLower(sw.Name)
			if seen[key] {
				return nil, fmt.Errorf("software %q is listed twice: keep one entry per package", sw.Name)
			}
			seen[key] = true
			out = append(out, sw)
		}
	}
	return out, nil
}

func parseItem(item string) (Software, error) {
	parts := strings.Split(item, ";")
	name, version, _ := strings.Cut(parts[0], "=")
	sw := Software{Name: strings.TrimSpace(name), Version: strings.TrimSpace(version)}
	if sw.Name == "" {
		return Software{}, fmt.Errorf("software %q has no name: write name[=version], like nginx=1.24.0", item)
	}
	set := map[string]bool{}
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || k == "" {
			return Software{}, fmt.Errorf("software %q: %q is not key=value (keys: website, notes, license, licenseLink, package)", sw.Name, p)
		}
		var field *string
		switch k {
		case "website":
			field = &sw.Website
		case "notes", "releasenotes":
			field = &sw.ReleaseNotes
		case "license", "licensetype":
			field = &sw.LicenseType
		case "licenselink":
			field = &sw.LicenseLink
		case "package":
			field = &sw.Package
		default:
			return Software{}, fmt.Errorf("software %q: unknown key %q (keys: website, notes, license, licenseLink, package)", sw.Name, k)
		}
		canon := map[string]string{"releasenotes": "notes", "licensetype": "license"}[k]
		if canon == "" {
			canon = k
		}
		if set[canon] {
			return Software{}, fmt.Errorf("software %q: %s is given twice", sw.Name, canon)
		}
		set[canon] = true
		*field = v
	}
	return sw, nil
}
