package schematest

import (
	"strings"
	"testing"
)

// The schemas must reject what the specs forbid, or validating against them proves nothing.
func TestSchemasReject(t *testing.T) {
	for _, tc := range []struct{ name, url, doc, want string }{
		{"cyclonedx wrong spec field", CycloneDX16, `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"lib","name":"x"}]}`, "type"},
		{"cyclonedx unknown field", CycloneDX16, `{"bomFormat":"CycloneDX","specVersion":"1.6","extra":1}`, "extra"},
		{"statement without digest", InTotoV1, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a"}],"predicateType":"https://x.example/p","predicate":{}}`, "digest"},
		{"statement bad sha256", InTotoV1, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"ABC"}}],"predicateType":"https://x.example/p","predicate":{}}`, "sha256"},
		{"provenance without builder id", SLSAProvenance, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + strings.Repeat("a", 64) + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://x.example/t","externalParameters":{"a":1}},"runDetails":{"builder":{}}}}`, "id"},
		{"provenance local timestamp", SLSAProvenance, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + strings.Repeat("a", 64) + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://x.example/t","externalParameters":{"a":1}},"runDetails":{"builder":{"id":"https://x.example/b"},"metadata":{"startedOn":"2026-01-01T10:00:00+02:00"}}}}`, "startedOn"},
	} {
		err := Validate(tc.url, []byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a failure mentioning %q", tc.name, err, tc.want)
		}
	}
	ok := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + strings.Repeat("a", 64) + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://x.example/t","externalParameters":{"a":1}},"runDetails":{"builder":{"id":"https://x.example/b"},"metadata":{"startedOn":"2026-01-01T10:00:00Z"}}}}`
	if err := Validate(SLSAProvenance, []byte(ok)); err != nil {
		t.Errorf("a minimal valid provenance is rejected: %v", err)
	}
}
