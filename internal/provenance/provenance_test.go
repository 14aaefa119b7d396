package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/sbom/schematest"
)

func writeRecipe(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p, body := range map[string]string{
		"scripts/10-install.sh":   "#!/bin/sh\napt-get install -y nginx\n",
		"per-instance/001_onboot": "#!/bin/sh\necho hi\n",
		"files/etc/motd":          "Welcome\n",
	} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "per-instance/001_onboot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("motd", filepath.Join(dir, "files/etc/motd.link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTreeDigest(t *testing.T) {
	dir := writeRecipe(t)
	d1, err := TreeDigest(dir)
	if err != nil {
		t.Fatal(err)
	}
	// in-toto's dirHash, as its spec computes it by hand.
	out, err := exec.Command("sh", "-c", "cd "+dir+" && find . -type f | cut -c3- | LC_ALL=C sort | xargs -r sha256sum | sha256sum | cut -f1 -d' '").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); d1[AlgDirHash] != got {
		t.Errorf("dirHash %s, the spec's shell pipeline says %s", d1[AlgDirHash], got)
	}
	// The tree digest, from its definition in docs/provenance.md.
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	listing := fmt.Sprintf("d 0755 - files\nd 0755 - files/etc\nf 0644 %s files/etc/motd\nl 0777 %s files/etc/motd.link\n"+
		"d 0755 - per-instance\nf 0755 %s per-instance/001_onboot\nd 0755 - scripts\nf 0644 %s scripts/10-install.sh\n",
		sum("Welcome\n"), sum("motd"), sum("#!/bin/sh\necho hi\n"), sum("#!/bin/sh\napt-get install -y nginx\n"))
	if d1[AlgTree] != sum(listing) {
		t.Errorf("tree digest %s does not match the documented listing's sha256 %s", d1[AlgTree], sum(listing))
	}

	// One byte changes both digests; a mode changes the tree digest only.
	p := filepath.Join(dir, "scripts/10-install.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\napt-get install -y nginX\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d2, err := TreeDigest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d2[AlgTree] == d1[AlgTree] || d2[AlgDirHash] == d1[AlgDirHash] {
		t.Errorf("a changed byte left a digest unchanged: %v %v", d1, d2)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
	d3, err := TreeDigest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d3[AlgTree] == d2[AlgTree] || d3[AlgDirHash] != d2[AlgDirHash] {
		t.Errorf("chmod: tree %s -> %s (must change), dirHash %s -> %s (must not)", d2[AlgTree], d3[AlgTree], d2[AlgDirHash], d3[AlgDirHash])
	}
}

func input(t *testing.T, env map[string]string) Input {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "manifest.json")
	sbomPath := filepath.Join(dir, "sbom.cdx.json")
	os.WriteFile(manifest, []byte(`{"snapshot_id": 77}`+"\n"), 0o644)
	os.WriteFile(sbomPath, []byte(`{"bomFormat":"CycloneDX"}`+"\n"), 0o644)
	rd, err := TreeDigest(writeRecipe(t))
	if err != nil {
		t.Fatal(err)
	}
	return Input{
		Subjects: []string{manifest, sbomPath}, RecipeDir: "examples/lemp", RecipeDigest: rd,
		Mode: "build_image", Image: "debian-12-x64", ImageID: 1001, Region: "nyc3", Size: "s-1vcpu-1gb",
		APIURL: "https://api.digitalocean.com/", ToolVersion: "v1.2.3", ToolSHA256: strings.Repeat("ab", 32),
		RunID: "0123abcd", SnapshotID: 77, SnapshotName: "lemp-1", SnapshotRegions: []string{"nyc3", "ams3"},
		Started: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), Finished: time.Date(2026, 11, 30, 10, 9, 0, 0, time.UTC),
		Getenv: func(k string) string { return env[k] },
	}
}

func TestWriteLocal(t *testing.T) {
	in := input(t, nil)
	out := filepath.Join(t.TempDir(), "provenance.intoto.json")
	if err := Write(out, in); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{schematest.InTotoV1, schematest.SLSAProvenance} {
		if err := schematest.Validate(url, data); err != nil {
			t.Errorf("%s: %v\n%s", url, err, data)
		}
	}
	st, p, err := Read(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if st.GetType() != "https://in-toto.io/Statement/v1" || st.GetPredicateType() != PredicateType {
		t.Errorf("type %q predicate %q", st.GetType(), st.GetPredicateType())
	}
	for i, s := range st.GetSubject() {
		b, _ := os.ReadFile(in.Subjects[i])
		h := sha256.Sum256(b)
		if s.GetName() != filepath.Base(in.Subjects[i]) || s.GetDigest()["sha256"] != hex.EncodeToString(h[:]) {
			t.Errorf("subject %d = %v, want %s sha256 %x", i, s, filepath.Base(in.Subjects[i]), h)
		}
	}
	ext := p.GetBuildDefinition().GetExternalParameters().AsMap()
	if ext["mode"] != "build_image" || ext["image"] != "debian-12-x64" || ext["region"] != "nyc3" || ext["size"] != "s-1vcpu-1gb" ||
		ext["recipe"].(map[string]any)["dir"] != "examples/lemp" {
		t.Errorf("external parameters %v", ext)
	}
	deps := p.GetBuildDefinition().GetResolvedDependencies()
	if len(deps) != 3 || deps[0].GetDigest()[AlgTree] != in.RecipeDigest[AlgTree] ||
		deps[1].GetUri() != "https://api.digitalocean.com/v2/images/1001" || deps[1].GetName() != "debian-12-x64" ||
		deps[2].GetDigest()["sha256"] != in.ToolSHA256 || !strings.HasSuffix(deps[2].GetUri(), "@v1.2.3") {
		t.Errorf("resolved dependencies %v", deps)
	}
	rd := p.GetRunDetails()
	if rd.GetBuilder().GetId() != LocalBuilder || rd.GetMetadata().GetInvocationId() != "mp-image-run-0123abcd" {
		t.Errorf("builder %v metadata %v", rd.GetBuilder(), rd.GetMetadata())
	}
	snap := rd.GetByproducts()[0]
	if snap.GetName() != "lemp-1" || snap.GetUri() != "https://api.digitalocean.com/v2/images/77" || snap.GetAnnotations().AsMap()["id"] != float64(77) {
		t.Errorf("snapshot byproduct %v", snap)
	}
}

func TestWriteOnGitHub(t *testing.T) {
	in := input(t, map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/app",
		"GITHUB_RUN_ID": "123", "GITHUB_RUN_ATTEMPT": "2", "GITHUB_SHA": strings.Repeat("c", 40), "GITHUB_REF": "refs/tags/v1.0",
		"RUNNER_ENVIRONMENT": "github-hosted", "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/release.yml@refs/tags/v1.0"})
	out := filepath.Join(t.TempDir(), "p.json")
	if err := Write(out, in); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	if err := schematest.Validate(schematest.SLSAProvenance, data); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	_, p, err := Read(data)
	if err != nil {
		t.Fatal(err)
	}
	if id := p.GetRunDetails().GetBuilder().GetId(); id != "https://github.com/actions/runner/github-hosted" {
		t.Errorf("builder id %s", id)
	}
	if u := p.GetRunDetails().GetMetadata().GetInvocationId(); u != "https://github.com/acme/app/actions/runs/123/attempts/2" {
		t.Errorf("invocation %s", u)
	}
	src := p.GetBuildDefinition().GetResolvedDependencies()[1]
	if src.GetUri() != "git+https://github.com/acme/app@refs/tags/v1.0" || src.GetDigest()["gitCommit"] != strings.Repeat("c", 40) {
		t.Errorf("source dependency %v", src)
	}
	if wf := p.GetBuildDefinition().GetInternalParameters().AsMap()["github"].(map[string]any)["workflow_ref"]; wf != "acme/app/.github/workflows/release.yml@refs/tags/v1.0" {
		t.Errorf("workflow_ref %v", wf)
	}
}

func TestReadIsStrict(t *testing.T) {
	bad := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + strings.Repeat("a", 64) + `"}}],` +
		`"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"x","externalParameters":{"a":1}},"runDetails":{"builder":{"id":"b"},"extra":1}}}`
	if _, _, err := Read([]byte(bad)); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("an unknown field was accepted: %v", err)
	}
}
