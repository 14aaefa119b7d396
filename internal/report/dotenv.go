package report

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Dotenv writes the outputs as NAME=value lines for GitLab's
// artifacts:reports:dotenv (SNAPSHOT_ID=..., DROPLET_IP=...). Other calls do nothing.
type Dotenv struct {
	Nop
	path string
}

// NewDotenv writes to path when Outputs is called.
func NewDotenv(path string) *Dotenv { return &Dotenv{path: path} }

// Outputs replaces the file with one NAME=value line per output, empty ones
// included so later jobs see a defined variable. GitLab reads values
// verbatim and allows no newlines.
func (d *Dotenv) Outputs(o Outputs) error {
	var b strings.Builder
	for _, kv := range o.pairs() {
		if strings.ContainsAny(kv[1], "\r\n") {
			return fmt.Errorf("dotenv %s: %s holds a newline, which GitLab dotenv cannot carry", d.path, kv[0])
		}
		fmt.Fprintf(&b, "%s=%s\n", DotenvName(kv[0]), kv[1])
	}
	if dir := filepath.Dir(d.path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("dotenv: create %s: %w", dir, err)
		}
	}
	if err := os.WriteFile(d.path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("dotenv: write %s: %w (check the dotenv path)", d.path, err)
	}
	return nil
}

// DotenvName maps an output name to its variable: snapshot-id -> SNAPSHOT_ID.
func DotenvName(output string) string {
	return strings.ToUpper(strings.ReplaceAll(output, "-", "_"))
}
