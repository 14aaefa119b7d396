package packer

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

// builderKeys are the digitalocean builder settings mp-image carries out.
var builderKeys = set("type", "name", "api_token", "image", "region", "size", "ssh_username", "snapshot_name",
	"droplet_name", "snapshot_regions", "snapshot_tags", "tags", "user_data", "user_data_file", "monitoring", "api_url",
	"ipv6", "droplet_agent", "private_networking", "vpc_uuid", "state_timeout", "snapshot_timeout")

// builderIgnored are settings about how Packer connects or polls: mp-image
// decides those itself (pinned host key, its own key, backoff), so they are
// accepted with a warning rather than refused.
var builderIgnored = set("ssh_timeout", "ssh_port", "ssh_key_id", "ssh_private_key_file", "ssh_agent_auth",
	"ssh_handshake_attempts", "ssh_keep_alive_interval", "ssh_read_write_timeout", "ssh_pty", "communicator",
	"connect_with_private_ip", "http_retry_max", "http_retry_wait_min", "http_retry_wait_max",
	"pause_before_connecting", "ssh_clear_authorized_keys", "transfer_timeout", "wait_snapshot_transfer",
	"ssh_bastion_host", "ssh_bastion_username", "ssh_bastion_private_key_file", "ssh_file_transfer_method",
	"ssh_disable_agent_forwarding", "temporary_key_pair_type", "temporary_key_pair_bits")

var common = []string{"type", "only", "except", "override", "pause_before", "timeout", "max_retries", "name"}

var shellKeys = set(append([]string{"inline", "script", "scripts", "environment_vars", "env", "valid_exit_codes",
	"execute_command", "expect_disconnect", "inline_shebang"}, common...)...)

// shellIgnored change where Packer puts its temporary files or how it retries;
// the script still runs the same.
var shellIgnored = set("remote_path", "remote_folder", "remote_file", "skip_clean", "start_retry_timeout",
	"binary", "env_var_format", "use_env_var_file")

var fileKeys = set(append([]string{"source", "sources", "destination", "direction", "content", "generated"}, common...)...)

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// compileBuilder fills plan.Builder from the one digitalocean builder.
func compileBuilder(b *block, base string, plan *recipe.Plan) {
	b.unknown(builderKeys, builderIgnored, func(w string) { plan.Warnings = append(plan.Warnings, w) })
	bd := &plan.Builder
	bd.Name = b.str("name")
	if bd.Name == "" {
		bd.Name = BuilderType
	}
	bd.APIToken = b.str("api_token")
	bd.APIURL = b.str("api_url")
	bd.Image = b.str("image")
	bd.Region = b.str("region")
	bd.Size = b.str("size")
	bd.SSHUsername = b.str("ssh_username")
	bd.SnapshotName = b.str("snapshot_name")
	bd.DropletName = b.str("droplet_name")
	bd.SnapshotRegions = b.strs("snapshot_regions")
	bd.SnapshotTags = b.strs("snapshot_tags")
	bd.Tags = b.strs("tags")
	bd.UserData = b.str("user_data")
	if f := b.str("user_data_file"); f != "" {
		if bd.UserData != "" {
			b.errf("user_data_file", "set only one of user_data and user_data_file")
		}
		data, err := os.ReadFile(localPath(base, f))
		if err != nil {
			b.errf("user_data_file", "cannot read %s (paths are relative to %s): %v", f, base, err)
		}
		bd.UserData = string(data)
	}
	bd.Monitoring = b.boolean("monitoring")
	bd.IPv6 = b.boolean("ipv6")
	if b.has("droplet_agent") {
		v := b.boolean("droplet_agent")
		bd.DropletAgent = &v
	}
	bd.PrivateNetworking = b.boolean("private_networking")
	bd.VPCUUID = b.str("vpc_uuid")
	bd.StateTimeout = b.duration("state_timeout")
	bd.SnapshotTimeout = b.duration("snapshot_timeout")
	if bd.APIToken != "" {
		bd.Sensitive = appendUnique(bd.Sensitive, bd.APIToken)
	}
}

// unsupportedWhy explains, per provisioner type, what to do instead.
var unsupportedWhy = map[string]string{
	"ansible":       "run the playbook from a shell provisioner on the droplet (apt-get install -y ansible; ansible-playbook -c local ...)",
	"ansible-local": "run ansible-playbook -c local from a shell provisioner",
	"shell-local":   "it runs on the CI host, not the droplet: make it a separate workflow step before or after mp-image",
	"breakpoint":    "use build_base mode (--mode build_base --keep-droplet) to stop and look around",
}

// compileProvisioner turns one provisioner into one or more actions
// (a shell provisioner with several scripts gives one action per script, as
// Packer uploads and runs each on its own). step is the 1-based index.
func compileProvisioner(b *block, step int, typ, builderName, base string, plan *recipe.Plan) {
	warn := func(w string) { plan.Warnings = append(plan.Warnings, w) }
	if skipFor(b, builderName) {
		warn(fmt.Sprintf("%s: %s is skipped: its only/except excludes builder %q", pos(b.file, b.line), b.what, builderName))
		return
	}
	mergeOverride(b, builderName)
	switch typ {
	case "shell":
		compileShell(b, step, builderName, base, plan, warn)
	case "file":
		compileFile(b, step, base, plan)
	default:
		why := unsupportedWhy[typ]
		if why == "" {
			why = "mp-image runs only shell and file provisioners; move the work into a shell script"
		}
		b.typeErr("provisioner type %q is not supported: %s", typ, why)
	}
}

func skipFor(b *block, name string) bool {
	if only := b.strs("only"); len(only) > 0 && !contains(only, name) && !contains(only, "source."+BuilderType+"."+name) {
		return true
	}
	except := b.strs("except")
	return contains(except, name) || contains(except, "source."+BuilderType+"."+name)
}

// mergeOverride applies Packer's per-builder override for our builder.
func mergeOverride(b *block, name string) {
	ov, ok := b.attrs["override"].(map[string]any)
	if !ok {
		return
	}
	if m, ok := ov[name].(map[string]any); ok {
		for k, v := range m {
			b.attrs[k] = v
		}
	}
}

func compileShell(b *block, step int, builderName, base string, plan *recipe.Plan, warn func(string)) {
	b.unknown(shellKeys, shellIgnored, warn)
	env := map[string]string{"PACKER_BUILDER_TYPE": BuilderType, "PACKER_BUILD_NAME": builderName}
	for _, kv := range b.strs("environment_vars") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			b.errf("environment_vars", "%q is not KEY=VALUE", kv)
			continue
		}
		env[k] = v
	}
	if m, ok := b.attrs["env"].(map[string]any); ok {
		for k, v := range m {
			env[k] = fmt.Sprint(v)
		}
	}
	proto := recipe.Action{
		Kind: recipe.KindShell, File: b.file, Line: b.line, Step: step,
		ExecuteCommand:   b.str("execute_command"),
		ValidExitCodes:   b.ints("valid_exit_codes"),
		ExpectDisconnect: b.boolean("expect_disconnect"),
		PauseBefore:      b.duration("pause_before"),
		Timeout:          b.duration("timeout"),
	}
	inline, script, scripts := b.strs("inline"), b.str("script"), b.strs("scripts")
	n := 0
	for _, set := range []bool{b.has("inline"), script != "", b.has("scripts")} {
		if set {
			n++
		}
	}
	if n != 1 {
		b.errf("", "set exactly one of inline, script or scripts")
		return
	}
	if b.has("inline") {
		shebang := b.str("inline_shebang")
		if shebang == "" {
			shebang = "/bin/sh -e" // Packer's default: stop at the first failing line
		}
		a := proto
		a.Name = b.what
		a.Env = clone(env)
		a.Script = []byte("#!" + shebang + "\n" + strings.Join(inline, "\n") + "\n")
		plan.Actions = append(plan.Actions, a)
		return
	}
	if script != "" {
		scripts = []string{script}
	}
	key := map[bool]string{true: "script", false: "scripts"}[script != ""]
	for _, s := range scripts {
		p := localPath(base, s)
		body, err := os.ReadFile(p)
		if err != nil {
			b.errf(key, "cannot read script %s (paths are relative to %s, where packer build would run; set the base directory if it is elsewhere): %v", s, base, rootCause(err))
			continue
		}
		a := proto
		a.Name = fmt.Sprintf("%s: %s", b.what, s)
		a.Env = clone(env)
		a.Script = body
		a.ScriptPath = p
		plan.Actions = append(plan.Actions, a)
	}
}

func compileFile(b *block, step int, base string, plan *recipe.Plan) {
	b.unknown(fileKeys, nil, func(string) {})
	if d := b.str("direction"); d != "" && d != "upload" {
		b.errf("direction", "%q is not supported: mp-image only uploads (fetch build results in a later workflow step)", d)
		return
	}
	if b.has("content") {
		b.errf("content", "inline content is not supported: put the content in a file and give it as source")
		return
	}
	if b.boolean("generated") {
		b.errf("generated", "generated sources are not supported: they come from shell-local steps, which mp-image does not run")
		return
	}
	dest := b.str("destination")
	if dest == "" {
		b.errf("destination", "missing: set the remote path to upload to")
		return
	}
	sources := b.strs("sources")
	if src := b.str("source"); src != "" {
		if len(sources) > 0 {
			b.errf("sources", "set only one of source and sources")
			return
		}
		sources = []string{src}
	}
	if len(sources) == 0 {
		b.errf("source", "missing: set the local file or folder to upload")
		return
	}
	if len(sources) > 1 && !strings.HasSuffix(dest, "/") {
		b.errf("destination", "with several sources the destination must be a folder ending in /: %q", dest)
		return
	}
	key := map[bool]string{true: "sources", false: "source"}[b.has("sources")]
	for _, src := range sources {
		local := localPath(base, src)
		st, err := os.Stat(local)
		if err != nil {
			b.errf(key, "cannot read %s (paths are relative to %s, where packer build would run; set the base directory if it is elsewhere): %v", src, base, rootCause(err))
			continue
		}
		a := recipe.Action{
			Kind: recipe.KindUpload, Name: fmt.Sprintf("%s: %s", b.what, src), File: b.file, Line: b.line, Step: step,
			LocalPath: local, PauseBefore: b.duration("pause_before"), Timeout: b.duration("timeout"),
		}
		a.RemotePath, a.Contents = resolveDest(src, dest, st.IsDir())
		plan.Actions = append(plan.Actions, a)
	}
}

// resolveDest applies Packer's trailing-slash rule: a folder source ending in
// "/" sends its contents into dest; without the slash the folder itself is
// created inside dest. A file goes into dest when dest ends in "/", else
// dest is the file's new path. The result is where contents land (folders) or
// the file's full path (files).
func resolveDest(src, dest string, isDir bool) (remote string, contents bool) {
	if isDir {
		if strings.HasSuffix(src, "/") {
			return path.Clean(dest), true
		}
		return path.Join(dest, filepath.Base(filepath.Clean(src))), true
	}
	if strings.HasSuffix(dest, "/") {
		return path.Join(dest, filepath.Base(src)), false
	}
	return dest, false
}

func rootCause(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func appendUnique(list []string, v string) []string {
	if v == "" || contains(list, v) {
		return list
	}
	return append(list, v)
}
