package remote

import (
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type mimePart struct{ Type, Body string }

// parseParts reads user_data the way cloud-init does: MIME or one document.
func parseParts(t *testing.T, ud string) []mimePart {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(ud))
	if err != nil {
		t.Fatalf("not a MIME message: %v\n%s", err, ud)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", mt, err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	var out []mimePart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out = append(out, mimePart{ct, string(b)})
	}
}

func TestMergeUserData(t *testing.T) {
	h, err := NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	ours := h.CloudConfig()
	userMultipart := "Content-Type: multipart/mixed; boundary=\"XX\"\nMIME-Version: 1.0\n\n--XX\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho one\n--XX\nContent-Type: text/cloud-config\n\n#cloud-config\npackages: [htop]\n--XX--\n"
	for _, tc := range []struct {
		name    string
		user    string
		wantErr string
		check   func(t *testing.T, got string)
	}{
		{name: "empty", user: "", check: func(t *testing.T, got string) {
			if got != ours {
				t.Errorf("empty user_data should give ours verbatim")
			}
		}},
		{name: "whitespace", user: "\n  \n", check: func(t *testing.T, got string) {
			if got != ours {
				t.Errorf("blank user_data should give ours verbatim")
			}
		}},
		{name: "cloud-config merged", user: "#cloud-config\n# keep me\npackages:\n  - htop\nruncmd:\n  - [touch, /x]\n", check: func(t *testing.T, got string) {
			if !strings.HasPrefix(got, "#cloud-config\n") {
				t.Fatalf("merged result lost its header:\n%s", got)
			}
			var m map[string]any
			if err := yaml.Unmarshal([]byte(got), &m); err != nil {
				t.Fatalf("merged result is not YAML: %v\n%s", err, got)
			}
			for _, k := range []string{"packages", "runcmd", "ssh_keys", "ssh_deletekeys", "ssh_genkeytypes"} {
				if _, ok := m[k]; !ok {
					t.Errorf("merged result lacks %s:\n%s", k, got)
				}
			}
			keys := m["ssh_keys"].(map[string]any)
			if !strings.Contains(keys["ed25519_private"].(string), "BEGIN OPENSSH PRIVATE KEY") {
				t.Errorf("private key block damaged:\n%s", got)
			}
			if !strings.Contains(got, "# keep me") {
				t.Errorf("user's comment lost:\n%s", got)
			}
		}},
		{name: "cloud-config CRLF", user: "#cloud-config\r\npackages: [htop]\r\n", check: func(t *testing.T, got string) {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(got), &m); err != nil || m["packages"] == nil || m["ssh_keys"] == nil {
				t.Errorf("CRLF cloud-config not merged: %v\n%s", err, got)
			}
		}},
		{name: "cloud-config only comments", user: "#cloud-config\n# nothing\n", check: func(t *testing.T, got string) {
			if got != ours {
				t.Errorf("comment-only cloud-config should give ours")
			}
		}},
		{name: "cloud-config sets ssh_keys", user: "#cloud-config\nssh_keys:\n  rsa_private: x\n", wantErr: "remove ssh_keys"},
		{name: "cloud-config sets ssh_deletekeys", user: "#cloud-config\nssh_deletekeys: false\n", wantErr: "ssh_deletekeys"},
		{name: "cloud-config is a list", user: "#cloud-config\n- a\n", wantErr: "YAML mapping"},
		{name: "cloud-config bad YAML", user: "#cloud-config\nfoo: [\n", wantErr: "not valid YAML"},
		{name: "shell script", user: "#!/bin/bash\necho hi\n", check: func(t *testing.T, got string) {
			parts := parseParts(t, got)
			if len(parts) != 2 || parts[0].Type != "text/x-shellscript" || parts[1].Type != "text/cloud-config" {
				t.Fatalf("parts %+v", parts)
			}
			if parts[0].Body != "#!/bin/bash\necho hi\n" {
				t.Errorf("script changed: %q", parts[0].Body)
			}
			if parts[1].Body != ours {
				t.Errorf("our part changed")
			}
		}},
		{name: "jinja", user: "## template: jinja\n#cloud-config\nhostname: {{ v1.local_hostname }}\n", check: func(t *testing.T, got string) {
			parts := parseParts(t, got)
			if len(parts) != 2 || parts[0].Type != "text/jinja2" {
				t.Fatalf("parts %+v", parts)
			}
		}},
		{name: "boothook", user: "#cloud-boothook\necho early\n", check: func(t *testing.T, got string) {
			if parts := parseParts(t, got); len(parts) != 2 || parts[0].Type != "text/cloud-boothook" {
				t.Fatalf("parts %+v", parts)
			}
		}},
		{name: "existing multipart", user: userMultipart, check: func(t *testing.T, got string) {
			parts := parseParts(t, got)
			if len(parts) != 3 || parts[0].Type != "text/x-shellscript" || parts[1].Type != "text/cloud-config" || parts[2].Body != ours {
				t.Fatalf("parts %+v", parts)
			}
			if parts[0].Body != "#!/bin/sh\necho one" {
				t.Errorf("user's part changed: %q", parts[0].Body)
			}
		}},
		{name: "multipart with ssh_keys", user: strings.Replace(userMultipart, "packages: [htop]", "ssh_keys: {}", 1), wantErr: "remove ssh_keys"},
		{name: "multipart without boundary", user: "Content-Type: multipart/mixed\n\nbody\n", wantErr: "boundary"},
		{name: "gzip", user: "\x1f\x8b\x08\x00rest", wantErr: "gzip"},
		{name: "plain text", user: "hello world\n", wantErr: "does not run"},
		{name: "too big", user: "#!/bin/sh\n" + strings.Repeat("# padding\n", 7000), wantErr: "over DigitalOcean's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MergeUserData(ours, tc.user)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
		})
	}
}
