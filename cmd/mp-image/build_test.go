package main

import (
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/pipeline"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

// An explicit --ssh-user wins over a template's ssh_username, even when it
// names the default (root); left alone, the template's stands, and a
// non-root user is refused with a message that names where it came from.
func TestSSHUserPrecedence(t *testing.T) {
	plan := &recipe.Plan{Builder: recipe.Builder{SSHUsername: "ubuntu"}}
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		refusal string
	}{
		{"explicit root", []string{"--ssh-user", "root"}, nil, "root", ""},
		{"explicit root from the action input", nil, map[string]string{"INPUT_SSH-USER": "root"}, "root", ""},
		{"template's", nil, nil, "ubuntu", "the template's ssh_username is \"ubuntu\": only root is supported"},
		{"explicit non-root", []string{"--ssh-user", "admin"}, nil, "admin", "ssh-user is \"admin\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := config.Load(tt.args, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			pipeline.ApplyBuilder(cfg, plan, explicitOption(cfg))
			if cfg.SSHUser != tt.want {
				t.Errorf("ssh user %q, want %q", cfg.SSHUser, tt.want)
			}
			err = pipeline.CheckUser(cfg, plan)
			if tt.refusal == "" && err != nil || tt.refusal != "" && (err == nil || !strings.Contains(err.Error(), tt.refusal)) {
				t.Errorf("CheckUser = %v, want %q", err, tt.refusal)
			}
		})
	}
}

// A template's api_url is honoured where api-url was left alone; a run that
// would send the token elsewhere is refused before any request.
func TestTemplateAPIURL(t *testing.T) {
	plan := &recipe.Plan{Builder: recipe.Builder{APIURL: "https://api.example.test/"}}
	for _, tt := range []struct {
		name, want, refusal string
		args                []string
		env                 map[string]string
	}{
		{name: "template's", want: "https://api.example.test/"},
		{name: "same host given", args: []string{"--api-url", "https://api.example.test/v2-ignored"}, want: "https://api.example.test/v2-ignored"},
		{name: "another host given", args: []string{"--api-url", "https://api.digitalocean.com/"}, want: "https://api.digitalocean.com/", refusal: "the token would go to another host"},
		{name: "another host from the environment", env: map[string]string{"DIGITALOCEAN_API_URL": "https://evil.example/"}, want: "https://evil.example/", refusal: "the template's api_url is https://api.example.test/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := config.Load(tt.args, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			pipeline.ApplyBuilder(cfg, plan, explicitOption(cfg))
			if cfg.APIURL != tt.want {
				t.Errorf("api-url %q, want %q", cfg.APIURL, tt.want)
			}
			err = pipeline.CheckAPIURL(cfg, plan)
			if tt.refusal == "" && err != nil || tt.refusal != "" && (err == nil || !strings.Contains(err.Error(), tt.refusal)) {
				t.Errorf("CheckAPIURL = %v, want %q", err, tt.refusal)
			}
		})
	}
}
