// Package provenance writes an in-toto Statement v1 with a SLSA provenance v1
// predicate for a build: what it made (the manifest and the SBOM, by sha256),
// from what (recipe tree digest, base image, tool) and where (GitHub run or local).
package provenance

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mp-image-action/mp-image-action/internal/report"
)

// PredicateType is SLSA provenance v1.
const PredicateType = "https://slsa.dev/provenance/v1"

// BuildType names how mp-image builds; docs/provenance.md describes its parameters.
const BuildType = "https://github.com/mp-image-action/mp-image-action/blob/main/docs/provenance.md#build-type-v1"

// LocalBuilder is the builder ID of a run outside GitHub Actions.
const LocalBuilder = "https://github.com/mp-image-action/mp-image-action/blob/main/docs/provenance.md#builder-local"

// Input is what a build knows when it writes its provenance.
type Input struct {
	Subjects []string // files the statement is about (manifest, SBOM), named by base name

	RecipeDir      string // recipe folder, or
	PackerTemplate string // Packer template
	RecipeDigest   map[string]string
	Mode           string
	Image          string // base image slug or ID as asked for
	ImageID        int    // the base image's ID as the API resolved it (0: unknown)
	Region         string
	Size           string
	APIURL         string

	ToolVersion string
	ToolSHA256  string // the running executable's digest ("" when unreadable)

	RunID             string
	SnapshotID        int
	SnapshotName      string
	SnapshotRegions   []string
	Started, Finished time.Time
	Getenv            func(string) string // GITHUB_* variables
}

// Statement builds the in-toto statement and checks it with the bindings' own validators.
func Statement(in Input) (*intoto.Statement, error) {
	getenv := in.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var subjects []*intoto.ResourceDescriptor
	for _, p := range in.Subjects {
		sum, err := fileSHA256(p)
		if err != nil {
			return nil, fmt.Errorf("provenance subject: %w", err)
		}
		subjects = append(subjects, &intoto.ResourceDescriptor{Name: filepath.Base(p), Digest: map[string]string{"sha256": sum}})
	}

	recipe := map[string]any{}
	if in.PackerTemplate != "" {
		recipe["packerTemplate"] = filepath.ToSlash(in.PackerTemplate)
	} else {
		recipe["dir"] = filepath.ToSlash(in.RecipeDir)
	}
	ext, err := structpb.NewStruct(map[string]any{
		"recipe": recipe, "mode": in.Mode, "image": in.Image, "region": in.Region, "size": in.Size,
	})
	if err != nil {
		return nil, err
	}

	api := strings.TrimRight(in.APIURL, "/") + "/"
	var deps []*intoto.ResourceDescriptor
	recipeName := "recipe:" + filepath.ToSlash(in.RecipeDir)
	if in.PackerTemplate != "" {
		recipeName = "packer-template:" + filepath.ToSlash(in.PackerTemplate)
	}
	deps = append(deps, &intoto.ResourceDescriptor{Name: recipeName, Digest: in.RecipeDigest})
	if repo := getenv("GITHUB_REPOSITORY"); repo != "" && getenv("GITHUB_SHA") != "" {
		// The checked-out source the recipe came from, as GitHub's own provenance names it.
		deps = append(deps, &intoto.ResourceDescriptor{
			Uri:    "git+" + serverURL(getenv) + "/" + repo + "@" + getenv("GITHUB_REF"),
			Digest: map[string]string{"gitCommit": getenv("GITHUB_SHA")},
		})
	}
	base := &intoto.ResourceDescriptor{Name: in.Image, Uri: api + "v2/images/" + in.Image}
	if in.ImageID != 0 {
		base.Uri = api + "v2/images/" + strconv.Itoa(in.ImageID)
		base.Annotations, _ = structpb.NewStruct(map[string]any{"slug": in.Image, "id": float64(in.ImageID)})
	}
	deps = append(deps, base)
	tool := &intoto.ResourceDescriptor{Name: "mp-image", Uri: "pkg:golang/github.com/mp-image-action/mp-image-action@" + in.ToolVersion}
	if in.ToolSHA256 != "" {
		tool.Digest = map[string]string{"sha256": in.ToolSHA256}
	}
	deps = append(deps, tool)

	builder := &slsa.Builder{Id: LocalBuilder, Version: map[string]string{"mp-image": in.ToolVersion}}
	invocation := "mp-image-run-" + in.RunID
	var internal *structpb.Struct
	if getenv("GITHUB_ACTIONS") == "true" && getenv("GITHUB_RUN_ID") != "" {
		// The same builder IDs and run URL as GitHub's own build provenance.
		env := "github-hosted"
		if getenv("RUNNER_ENVIRONMENT") == "self-hosted" {
			env = "self-hosted"
		}
		builder.Id = "https://github.com/actions/runner/" + env
		invocation = serverURL(getenv) + "/" + getenv("GITHUB_REPOSITORY") + "/actions/runs/" + getenv("GITHUB_RUN_ID")
		if a := getenv("GITHUB_RUN_ATTEMPT"); a != "" {
			invocation += "/attempts/" + a
		}
		internal, _ = structpb.NewStruct(map[string]any{"github": map[string]any{
			"event_name": getenv("GITHUB_EVENT_NAME"), "repository_id": getenv("GITHUB_REPOSITORY_ID"),
			"repository_owner_id": getenv("GITHUB_REPOSITORY_OWNER_ID"), "workflow_ref": getenv("GITHUB_WORKFLOW_REF"),
			"runner_environment": getenv("RUNNER_ENVIRONMENT"),
		}})
	}

	var byproducts []*intoto.ResourceDescriptor
	if in.SnapshotID != 0 {
		regions := make([]any, 0, len(in.SnapshotRegions))
		for _, r := range in.SnapshotRegions {
			regions = append(regions, r)
		}
		ann, err := structpb.NewStruct(map[string]any{"id": float64(in.SnapshotID), "regions": regions})
		if err != nil {
			return nil, err
		}
		byproducts = append(byproducts, &intoto.ResourceDescriptor{Name: in.SnapshotName,
			Uri: api + "v2/images/" + strconv.Itoa(in.SnapshotID), Annotations: ann})
	}

	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{BuildType: BuildType, ExternalParameters: ext,
			InternalParameters: internal, ResolvedDependencies: deps},
		RunDetails: &slsa.RunDetails{Builder: builder, Byproducts: byproducts, Metadata: &slsa.BuildMetadata{
			InvocationId: invocation, StartedOn: ts(in.Started), FinishedOn: ts(in.Finished)}},
	}
	if err := pred.Validate(); err != nil {
		return nil, fmt.Errorf("provenance predicate: %w", err)
	}
	predJSON, err := protojson.Marshal(pred)
	if err != nil {
		return nil, err
	}
	predStruct := &structpb.Struct{}
	if err := protojson.Unmarshal(predJSON, predStruct); err != nil {
		return nil, err
	}
	st := &intoto.Statement{Type: intoto.StatementTypeUri, Subject: subjects, PredicateType: PredicateType, Predicate: predStruct}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("provenance statement: %w", err)
	}
	return st, nil
}

// Write writes the statement to path as indented JSON (unsigned: signing is
// the attestation service's job, e.g. actions/attest-build-provenance).
func Write(path string, in Input) error {
	st, err := Statement(in)
	if err != nil {
		return err
	}
	raw, err := protojson.Marshal(st)
	if err != nil {
		return fmt.Errorf("provenance: encode: %w", err)
	}
	// protojson's spacing is deliberately unstable; indent it for people and diffs.
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	out.WriteByte('\n')
	if err := report.WriteFileAtomic(path, out.Bytes()); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	return nil
}

// Read decodes a statement strictly: a field the in-toto or SLSA protos do not
// define is an error.
func Read(data []byte) (*intoto.Statement, *slsa.Provenance, error) {
	var st intoto.Statement
	if err := protojson.Unmarshal(data, &st); err != nil {
		return nil, nil, fmt.Errorf("in-toto statement: %w", err)
	}
	if err := st.Validate(); err != nil {
		return nil, nil, fmt.Errorf("in-toto statement: %w", err)
	}
	pj, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return nil, nil, err
	}
	var p slsa.Provenance
	if err := protojson.Unmarshal(pj, &p); err != nil {
		return nil, nil, fmt.Errorf("SLSA provenance: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, nil, fmt.Errorf("SLSA provenance: %w", err)
	}
	return &st, &p, nil
}

// ExecutableSHA256 is the running binary's digest, or "" when it cannot be read.
func ExecutableSHA256() string {
	p, err := os.Executable()
	if err != nil {
		return ""
	}
	s, err := fileSHA256(p)
	if err != nil {
		return ""
	}
	return s
}

func serverURL(getenv func(string) string) string {
	if s := getenv("GITHUB_SERVER_URL"); s != "" {
		return strings.TrimRight(s, "/")
	}
	return "https://github.com"
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t.UTC())
}

func decodeH1(h1 string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h1, "h1:"))
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	return hex.EncodeToString(b), nil
}
