package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/provenance"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/sbom"
	"github.com/mp-image-action/mp-image-action/internal/sbom/schematest"
)

func fileSHA256(t *testing.T, p string) (string, []byte) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:]), data
}

// checkAttestations reads what a LEMP build wrote as a consumer would: the
// SBOM against CycloneDX 1.6 and dpkg-query's versions, the manifest's pin of
// it, the provenance against in-toto v1 and SLSA v1 with digests recomputed
// from the files, and the versions the Vendor Portal received.
func checkAttestations(t *testing.T, m *report.Manifest, manifest, sbomPath, provPath string, dpkg map[string]string) {
	t.Helper()
	sbomSum, sbomData := fileSHA256(t, sbomPath)
	if err := schematest.Validate(schematest.CycloneDX16, sbomData); err != nil {
		t.Errorf("the SBOM does not validate against CycloneDX 1.6: %v", err)
	}
	bom, err := sbom.Read(sbomPath)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for _, c := range *bom.Components {
		versions[c.Name] = c.Version
	}
	for pkg, v := range dpkg {
		if versions[pkg] != v {
			t.Errorf("SBOM has %s %q, dpkg-query on a droplet from the snapshot says %q", pkg, versions[pkg], v)
		}
	}
	if len(versions) < 200 {
		t.Errorf("the SBOM lists %d components: a LEMP image has hundreds of packages", len(versions))
	}
	if p := (*bom.Metadata.Component.Properties)[0]; p.Name != sbom.PropSnapshotID || p.Value != strconv.Itoa(m.SnapshotID) {
		t.Errorf("the SBOM names snapshot %+v, the manifest %d", p, m.SnapshotID)
	}
	if m.SBOM != sbomPath || m.SBOMSHA256 != sbomSum || m.Provenance != provPath {
		t.Errorf("manifest sbom %q sha256 %q provenance %q; want %q %q %q", m.SBOM, m.SBOMSHA256, m.Provenance, sbomPath, sbomSum, provPath)
	}

	_, provData := fileSHA256(t, provPath)
	for _, url := range []string{schematest.InTotoV1, schematest.SLSAProvenance} {
		if err := schematest.Validate(url, provData); err != nil {
			t.Errorf("provenance against %s: %v", url, err)
		}
	}
	st, pred, err := provenance.Read(provData)
	if err != nil {
		t.Fatal(err)
	}
	manSum, _ := fileSHA256(t, manifest)
	want := map[string]string{filepath.Base(manifest): manSum, filepath.Base(sbomPath): sbomSum}
	if len(st.GetSubject()) != 2 {
		t.Errorf("subjects %v, want the manifest and the SBOM", st.GetSubject())
	}
	for _, s := range st.GetSubject() {
		if want[s.GetName()] == "" || s.GetDigest()["sha256"] != want[s.GetName()] {
			t.Errorf("subject %s sha256 %s; the files' digests are %v", s.GetName(), s.GetDigest()["sha256"], want)
		}
	}
	snap := pred.GetRunDetails().GetByproducts()[0]
	if snap.GetName() != m.SnapshotName || snap.GetAnnotations().AsMap()["id"] != float64(m.SnapshotID) {
		t.Errorf("snapshot byproduct %v, manifest %d %s", snap, m.SnapshotID, m.SnapshotName)
	}
	ext := pred.GetBuildDefinition().GetExternalParameters().AsMap()
	if ext["mode"] != "build_image" || ext["image"] != "debian-12-x64" || ext["region"] != m.Region || ext["size"] != m.Size {
		t.Errorf("external parameters %v", ext)
	}
	// The recipe digest is the tree's as any copy of the recipe computes it,
	// and one changed byte changes it.
	deps := pred.GetBuildDefinition().GetResolvedDependencies()
	got := deps[0].GetDigest()
	here, err := provenance.TreeDigest(filepath.Join(env.root, "examples/lemp"))
	if err != nil {
		t.Fatal(err)
	}
	if got[provenance.AlgTree] != here[provenance.AlgTree] || got[provenance.AlgDirHash] != here[provenance.AlgDirHash] {
		t.Errorf("recipe digest %v, the recipe's tree is %v", got, here)
	}
	cp := filepath.Join(t.TempDir(), "lemp")
	if out, err := exec.Command("cp", "-a", filepath.Join(env.root, "examples/lemp"), cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	f := filepath.Join(cp, "scripts", firstFile(t, filepath.Join(cp, "scripts")))
	data, _ := os.ReadFile(f)
	data[len(data)-1] ^= 1
	os.WriteFile(f, data, 0)
	changed, err := provenance.TreeDigest(cp)
	if err != nil {
		t.Fatal(err)
	}
	if changed[provenance.AlgTree] == got[provenance.AlgTree] || changed[provenance.AlgDirHash] == got[provenance.AlgDirHash] {
		t.Errorf("one changed byte in %s left the recipe digest %v unchanged", f, got)
	}
	if deps[1].GetName() != "debian-12-x64" || deps[1].GetAnnotations().AsMap()["id"] == nil {
		t.Errorf("base image dependency %v", deps[1])
	}
	binSum, _ := fileSHA256(t, env.bin)
	if deps[2].GetDigest()["sha256"] != binSum {
		t.Errorf("tool dependency %v, the binary's sha256 is %s", deps[2], binSum)
	}

	app, ok := env.srv.VendorApp("app-lemp")
	if !ok || app.ImageID != m.SnapshotID {
		t.Fatalf("vendor app %+v", app)
	}
	sent := map[string]string{}
	for _, s := range app.SoftwareIncluded {
		sent[s.Name] = s.Version
	}
	for name, pkg := range map[string]string{"nginx": "nginx", "MariaDB": "mariadb-server", "PHP-FPM": "php-fpm"} {
		if sent[name] != sbom.UpstreamVersion(dpkg[pkg]) || sent[name] == "" {
			t.Errorf("submitted %s %q, want the upstream part of %s's %q", name, sent[name], pkg, dpkg[pkg])
		}
	}
	if sent["Website"] != "1.0" {
		t.Errorf("an explicit version was replaced: %v", sent)
	}
}

func firstFile(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil || len(es) == 0 {
		t.Fatalf("%s: %v", dir, err)
	}
	return es[0].Name()
}
