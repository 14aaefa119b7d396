package config

import (
	"os"
	"regexp"
	"testing"
)

// action.yml runs a prebuilt image by an exact version: a floating tag (v1,
// latest) would make @vX.Y.Z and a pinned commit SHA run whatever was pushed
// last. The post step uses the image's second name for the same binary.
func TestActionRunsAnExactImageVersion(t *testing.T) {
	data, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^  using: "docker"$`,
		`(?m)^  image: "docker://ghcr\.io/mp-image-action/mp-image-action:v\d+\.\d+\.\d+"$`,
		`(?m)^  args: \["action"\]$`,
		`(?m)^  post-entrypoint: "/mp-image-post"$`,
	} {
		if !regexp.MustCompile(re).Match(data) {
			t.Errorf("action.yml does not match %s", re)
		}
	}
}
