package remote

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxUserData is DigitalOcean's limit on a droplet's user_data.
const MaxUserData = 64 * 1024

// pinnedKeys are the cloud-config keys that deliver the host key; a user's
// value for any of them would break host key pinning.
var pinnedKeys = []string{"ssh_keys", "ssh_deletekeys", "ssh_genkeytypes"}

// userDataKinds maps a user_data's first line to the MIME type cloud-init
// gives it (cloud-init's own table, minus what makes no sense here).
var userDataKinds = []struct{ prefix, mimeType string }{
	{"#cloud-config-archive", "text/cloud-config-archive"},
	{"#cloud-config", "text/cloud-config"},
	{"#!", "text/x-shellscript"},
	{"#cloud-boothook", "text/cloud-boothook"},
	{"#include", "text/x-include-url"},
	{"#part-handler", "text/part-handler"},
	{"## template: jinja", "text/jinja2"},
}

// MergeUserData combines our cloud-config (the host key) with a user's
// user_data: a user cloud-config is merged key by key; anything else becomes
// a MIME multipart message with our cloud-config as the last part, so it
// wins cloud-init's merge.
func MergeUserData(cloudConfig, userUserData string) (string, error) {
	out, err := mergeUserData(cloudConfig, userUserData)
	if err != nil {
		return "", err
	}
	if len(out) > MaxUserData {
		return "", fmt.Errorf("user_data is %d bytes with the host key added, over DigitalOcean's %d: shorten it (move files into the recipe's files/ folder)", len(out), MaxUserData)
	}
	return out, nil
}

func mergeUserData(ours, user string) (string, error) {
	if strings.TrimSpace(user) == "" {
		return ours, nil
	}
	if strings.HasPrefix(user, "\x1f\x8b") {
		return "", errors.New("user_data is gzip-compressed: give it uncompressed so the host key can be added")
	}
	user = strings.ReplaceAll(user, "\r\n", "\n")
	first, _, _ := strings.Cut(user, "\n")
	first = strings.TrimSpace(first)
	if isMIME(user) {
		return addToMultipart(ours, user)
	}
	if first == "#cloud-config" {
		return mergeCloudConfig(ours, user)
	}
	for _, k := range userDataKinds {
		if strings.HasPrefix(first, k.prefix) {
			return multipartOf([]part{{mimeType: k.mimeType, name: "user-data", body: user}, {mimeType: "text/cloud-config", name: "mp-image-host-key", body: ours}})
		}
	}
	return "", fmt.Errorf("user_data starts with %q, which cloud-init does not run: start it with #cloud-config or a #! shebang line", truncate(first, 40))
}

func isMIME(s string) bool {
	head := strings.ToLower(s[:min(len(s), 200)])
	return strings.HasPrefix(head, "content-type: multipart/") || strings.HasPrefix(head, "mime-version:")
}

// mergeCloudConfig adds our top-level keys to the user's mapping, keeping
// the user's keys, order and comments.
func mergeCloudConfig(ours, user string) (string, error) {
	_, body, _ := strings.Cut(user, "\n")
	if err := checkNoPinnedKeys(body); err != nil {
		return "", err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil {
		return "", fmt.Errorf("user_data cloud-config is not valid YAML: %w", err)
	}
	var our yaml.Node
	if err := yaml.Unmarshal([]byte(ours), &our); err != nil {
		return "", fmt.Errorf("our cloud-config is not valid YAML (a bug): %w", err)
	}
	if doc.Kind == 0 { // only comments or nothing
		return ours, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return "", errors.New("user_data cloud-config must be a YAML mapping (key: value lines)")
	}
	m.Content = append(m.Content, our.Content[0].Content...)
	var buf bytes.Buffer
	buf.WriteString("#cloud-config\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return "", fmt.Errorf("encode merged cloud-config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("encode merged cloud-config: %w", err)
	}
	return buf.String(), nil
}

// checkNoPinnedKeys refuses a cloud-config that sets the host key itself.
func checkNoPinnedKeys(body string) error {
	var v any
	if err := yaml.Unmarshal([]byte(body), &v); err != nil {
		return fmt.Errorf("user_data cloud-config is not valid YAML: %w", err)
	}
	m, _ := v.(map[string]any) // not a mapping: reported by the caller
	for _, k := range pinnedKeys {
		if _, ok := m[k]; ok {
			return fmt.Errorf("user_data sets %s: mp-image delivers the droplet's SSH host key through cloud-config to pin it; remove %s from user_data", k, k)
		}
	}
	return nil
}

type part struct {
	header   textproto.MIMEHeader // when copied from a user's multipart
	mimeType string
	name     string
	body     string
}

func multipartOf(parts []part) (string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fmt.Fprintf(&buf, "Content-Type: multipart/mixed; boundary=%q\nMIME-Version: 1.0\n\n", w.Boundary())
	for _, p := range parts {
		h := p.header
		if h == nil {
			h = textproto.MIMEHeader{}
			h.Set("Content-Type", p.mimeType+`; charset="utf-8"`)
			h.Set("MIME-Version", "1.0")
			h.Set("Content-Transfer-Encoding", "8bit")
			h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", p.name))
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			return "", fmt.Errorf("build multipart user_data: %w", err)
		}
		io.WriteString(pw, p.body)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("build multipart user_data: %w", err)
	}
	return buf.String(), nil
}

// addToMultipart copies the user's parts as they are and appends ours.
func addToMultipart(ours, user string) (string, error) {
	head, body, ok := strings.Cut(user, "\n\n")
	if !ok {
		return "", errors.New("user_data looks like MIME but has no blank line after its headers: fix the message")
	}
	var ct string
	for _, l := range strings.Split(head, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "content-type") {
			ct = strings.TrimSpace(v)
		}
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") || params["boundary"] == "" {
		return "", fmt.Errorf("user_data MIME message has no multipart Content-Type with a boundary (%q): fix its header", ct)
	}
	r := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var parts []part
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("read user_data multipart: %w", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return "", fmt.Errorf("read user_data multipart: %w", err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if pt == "text/cloud-config" && p.Header.Get("Content-Transfer-Encoding") != "base64" {
			if err := checkNoPinnedKeys(string(b)); err != nil {
				return "", err
			}
		}
		parts = append(parts, part{header: p.Header, body: string(b)})
	}
	parts = append(parts, part{mimeType: "text/cloud-config", name: "mp-image-host-key", body: ours})
	return multipartOf(parts)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
