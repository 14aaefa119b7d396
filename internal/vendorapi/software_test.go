package vendorapi

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSoftware(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		want    []Software
		err     string
	}{
		{"none", nil, nil, ""},
		{"blank and comments", []string{"", "  ", "# nothing\n"}, nil, ""},
		{"name only", []string{"nginx"}, []Software{{Name: "nginx"}}, ""},
		{"name and version", []string{" nginx = 1.24.0 "}, []Software{{Name: "nginx", Version: "1.24.0"}}, ""},
		{"commas and newlines", []string{"nginx=1.24,php=8.2\r\nmariadb=10.11\n"},
			[]Software{{Name: "nginx", Version: "1.24"}, {Name: "php", Version: "8.2"}, {Name: "mariadb", Version: "10.11"}}, ""},
		{"all keys", []string{"nginx=1.24.0;website=https://nginx.org;notes=https://nginx.org/CHANGES;license=BSD-2-Clause;licenseLink=https://nginx.org/LICENSE"},
			[]Software{{Name: "nginx", Version: "1.24.0", Website: "https://nginx.org", ReleaseNotes: "https://nginx.org/CHANGES", LicenseType: "BSD-2-Clause", LicenseLink: "https://nginx.org/LICENSE"}}, ""},
		{"long key names", []string{"php;releaseNotes=n;licenseType=PHP-3.01"}, []Software{{Name: "php", ReleaseNotes: "n", LicenseType: "PHP-3.01"}}, ""},
		{"version with equals kept", []string{"tool=1.0=beta"}, []Software{{Name: "tool", Version: "1.0=beta"}}, ""},
		{"trailing semicolon", []string{"redis=7;"}, []Software{{Name: "redis", Version: "7"}}, ""},
		{"no name", []string{"=1.0"}, nil, "no name"},
		{"unknown key", []string{"nginx;homepage=x"}, nil, `unknown key "homepage"`},
		{"not key=value", []string{"nginx;website"}, nil, "not key=value"},
		{"key twice", []string{"nginx;license=MIT;licenseType=BSD"}, nil, "license is given twice"},
		{"name twice", []string{"nginx=1", "NGINX=2"}, nil, "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSoftware(tc.entries)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseSoftware(%q) = %+v %v, want %+v", tc.entries, got, err, tc.want)
			}
		})
	}
}
