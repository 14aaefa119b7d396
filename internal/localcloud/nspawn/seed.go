//go:build linux

package nspawn

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// seedDir is where cloud-init's NoCloud datasource looks for a seed inside
// the machine. The seed is not part of the machine's disk: it is a directory
// on the host (seedHostDir) mounted there read-only, as DigitalOcean serves
// user_data from its metadata service, so a snapshot never holds it.
const seedDir = "/var/lib/cloud/seed/nocloud"

// seedHostDir is the host directory, next to the machine's layers, that holds its seed.
func seedHostDir(machineDir string) string { return filepath.Join(machineDir, "seed") }

// seedFiles renders the NoCloud seed of a machine: meta-data (instance-id,
// hostname and the request's keys: cloud-init installs public-keys for root
// whatever user_data says, as DigitalOcean does), user-data verbatim, and a
// network-config naming the address the host already gave eth0.
func seedFiles(spec localcloud.MachineSpec, addr, gateway string) (map[string][]byte, error) {
	keys := make([]string, 0, len(spec.SSHKeys))
	for _, k := range spec.SSHKeys {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.Name
	}
	meta := struct {
		InstanceID    string   `yaml:"instance-id"`
		LocalHostname string   `yaml:"local-hostname,omitempty"`
		PublicKeys    []string `yaml:"public-keys,omitempty"`
	}{spec.InstanceID, hostname, keys}
	if meta.InstanceID == "" {
		return nil, fmt.Errorf("machine %d: empty instance-id: the API must give every droplet a fresh one", spec.ID)
	}
	metaData, err := yaml.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("meta-data: %w", err)
	}
	userData := []byte(spec.UserData)
	if spec.IgnoreHostKeys {
		if userData, err = withoutHostKeys(spec.UserData); err != nil {
			return nil, err
		}
	}
	network := map[string]any{
		"version": 2,
		"ethernets": map[string]any{
			"eth0": map[string]any{
				"match":     map[string]any{"name": "eth0"},
				"addresses": []string{addr + "/24"},
				"routes":    []map[string]any{{"to": "0.0.0.0/0", "via": gateway}},
			},
		},
	}
	networkConfig, err := yaml.Marshal(network)
	if err != nil {
		return nil, fmt.Errorf("network-config: %w", err)
	}
	return map[string][]byte{
		"meta-data":      metaData,
		"user-data":      userData,
		"network-config": networkConfig,
	}, nil
}

// withoutHostKeys drops the top-level ssh_keys of a cloud-config, so the
// machine generates host keys of its own instead of the ones the client
// pinned: what a man in the middle looks like to the client.
func withoutHostKeys(userData string) ([]byte, error) {
	if !strings.HasPrefix(userData, "#cloud-config") {
		return []byte(userData), nil // scripts and MIME parts carry no host keys we know of
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(userData), &doc); err != nil {
		return nil, fmt.Errorf("user_data is not valid cloud-config YAML: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return []byte(userData), nil
	}
	// Drop the delivered keys AND the "generate none" setting, so the
	// machine makes and presents a host key of its own, as an impostor would
	// (without keys of any kind sshd would not start at all).
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); {
		if k := m.Content[i].Value; k == "ssh_keys" || k == "ssh_genkeytypes" {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			continue
		}
		i += 2
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	return append([]byte("#cloud-config\n"), out...), nil
}

// writeSeed writes the machine's seed into dir on the host (0700: user_data
// may carry private host keys), replacing any earlier one.
func writeSeed(dir string, files map[string][]byte) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove old seed: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("seed dir: %w", err)
	}
	for name, data := range files {
		mode := os.FileMode(0o644)
		if name == "user-data" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
			return fmt.Errorf("write seed %s: %w", name, err)
		}
	}
	return nil
}

// proxyVars are the /etc/environment entries the backend owns and rewrites
// at each boot (the machine's address, and so the proxy's, is per backend).
var proxyVars = []string{"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy"}

const proxyMarker = "# mp-image local cloud: the host's caching proxy"

// writeProxyConfig points apt, and programs run over SSH, at the host's
// apt-cacher-ng: it is the only way out of a machine's network namespace.
func writeProxyConfig(root *os.Root, proxyURL string) error {
	apt := fmt.Sprintf("// mp-image local cloud: the host's caching proxy\nAcquire::http::Proxy %q;\nAcquire::https::Proxy %q;\n", proxyURL, proxyURL)
	if err := root.MkdirAll("etc/apt/apt.conf.d", 0o755); err != nil {
		return err
	}
	if err := root.WriteFile("etc/apt/apt.conf.d/00mp-image-local-proxy", []byte(apt), 0o644); err != nil {
		return fmt.Errorf("apt proxy config: %w", err)
	}
	old, err := root.ReadFile("etc/environment")
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read /etc/environment: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if l == "" || l == proxyMarker || ownedVar(l) {
			continue
		}
		lines = append(lines, l)
	}
	lines = append(lines, proxyMarker)
	for _, v := range proxyVars[:4] {
		lines = append(lines, v+"="+proxyURL)
	}
	lines = append(lines, "no_proxy=localhost,127.0.0.1")
	// Removed first: a symlink there must be replaced, never followed.
	_ = root.Remove("etc/environment")
	return root.WriteFile("etc/environment", []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

func ownedVar(line string) bool {
	for _, v := range proxyVars {
		if strings.HasPrefix(line, v+"=") {
			return true
		}
	}
	return false
}
