// Package schematest validates mp-image's SBOM and provenance files against the
// JSON Schemas vendored in testdata/ (testdata/README.md says where each came from).
// Only tests import it, so the schemas stay out of the binary.
package schematest

import (
	"bytes"
	"embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed testdata/*.json
var files embed.FS

// Schema URLs as the files' $id name them.
const (
	CycloneDX16    = "http://cyclonedx.org/schema/bom-1.6.schema.json"
	InTotoV1       = "https://mp-image-action.invalid/schema/intoto-statement-v1.schema.json"
	SLSAProvenance = "https://mp-image-action.invalid/schema/slsa-provenance-v1.schema.json"
)

var byURL = map[string]string{
	CycloneDX16: "bom-1.6.schema.json",
	"http://cyclonedx.org/schema/spdx.schema.json":     "spdx.schema.json",
	"http://cyclonedx.org/schema/jsf-0.82.schema.json": "jsf-0.82.schema.json",
	InTotoV1:       "intoto-statement-v1.schema.json",
	SLSAProvenance: "slsa-provenance-v1.schema.json",
}

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	errInit  error
)

func load() {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for url, name := range byURL {
		data, err := files.ReadFile("testdata/" + name)
		if err != nil {
			errInit = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			errInit = fmt.Errorf("%s: %w", name, err)
			return
		}
		if err := c.AddResource(url, doc); err != nil {
			errInit = fmt.Errorf("%s: %w", name, err)
			return
		}
	}
	compiled = map[string]*jsonschema.Schema{}
	for _, url := range []string{CycloneDX16, InTotoV1, SLSAProvenance} {
		s, err := c.Compile(url)
		if err != nil {
			errInit = fmt.Errorf("compile %s: %w", url, err)
			return
		}
		compiled[url] = s
	}
}

// Validate checks the JSON document data against the schema at url.
func Validate(url string, data []byte) error {
	once.Do(load)
	if errInit != nil {
		return errInit
	}
	s, ok := compiled[url]
	if !ok {
		return fmt.Errorf("no schema %s", url)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(inst)
}
