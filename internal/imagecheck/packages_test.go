package imagecheck

import "testing"

func TestParsePending(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Pending
		ok   bool
	}{
		{"Inst mpi-dummy [1.0] (1.1 mp-image-test:bookworm-security [all])",
			Pending{Name: "mpi-dummy", Installed: "1.0", Candidate: "1.1", Origin: "mp-image-test:bookworm-security", Security: true}, true},
		// A package new to the machine has no installed version.
		{"Inst libfoo2 (2.0-1 Debian:12/stable [amd64])", Pending{Name: "libfoo2", Candidate: "2.0-1", Origin: "Debian:12/stable"}, true},
		{"Conf perl (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])", Pending{}, false},
		{"Remv foo [1.0]", Pending{}, false},
	} {
		got, ok := parsePending(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parsePending(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParsePackagesRPM(t *testing.T) {
	var p Packages
	err := parsePackages(&p, []string{"manager\trpm",
		"pkg\tbash\t5.1.8-9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm\t",
		"pkg\topenssl-libs\t1:3.0.7-27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm\t",
		"pkg\tgpg-pubkey\t8483c65d-5ccc5b19\t(none)\t(none)\t"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "bash", Version: "5.1.8-9.el9", Arch: "x86_64", Source: "bash", SourceVersion: "5.1.8-9.el9"},
		{Name: "openssl-libs", Version: "1:3.0.7-27.el9", Arch: "x86_64", Source: "openssl", SourceVersion: "3.0.7-27.el9"},
		{Name: "gpg-pubkey", Version: "8483c65d-5ccc5b19", Arch: "(none)"},
	}
	if len(p.List) != len(want) {
		t.Fatalf("got %+v", p.List)
	}
	for i := range want {
		if p.List[i] != want[i] {
			t.Errorf("package %d = %+v, want %+v", i, p.List[i], want[i])
		}
	}
	if x, ok := p.Find("openssl-libs"); !ok || x.Version != "1:3.0.7-27.el9" {
		t.Errorf("Find(openssl-libs) = %+v, %v", x, ok)
	}
	if _, ok := p.Find("nginx"); ok {
		t.Error("Find(nginx) found a package that is not installed")
	}
}
