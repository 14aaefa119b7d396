package imagecheck

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// RulesVersion names the rule set a report applies.
const RulesVersion = "img_check v1.8.1 rules + mp-image extras"

// Evaluate applies every rule to f; it needs no machine, so each rule is unit-testable.
func Evaluate(f *Facts, o Options) *Report {
	mode := o.Mode
	if mode == "" {
		mode = ModeBuildImage
	}
	r := &Report{Host: f.Host, OS: osString(f), Mode: mode, Rules: RulesVersion, DiskUsed: f.DiskUsed, Booted: o.Booted, BootKey: o.BootKey}
	fam := family(f)
	add := func(x Result) { r.Results = append(r.Results, x) }
	add(checkRoot(f))
	add(checkOSFamily(f, fam))
	add(checkOSVersion(f, fam))
	add(checkCloudInit(f))
	add(checkFirewall(f, fam))
	add(checkUpdates(f, o))
	add(checkLogArchives(f))
	add(checkLogFiles(f))
	for _, u := range f.Users {
		add(checkPassword(f, u))
		add(checkAuthorizedKeys(u))
		add(checkPrivateKeys(u))
		add(checkSSHFiles(u))
		add(checkHistory(u))
	}
	add(checkAgent(f))
	if x, ok := checkBuildKey(f, o.BuildKey); ok {
		add(x)
	}
	add(checkScripts(f))
	add(checkForceCommand(f))
	add(checkMOTD(f))
	add(checkTmp(f))
	add(checkAppInfo(f))
	add(checkMachineID(f))
	add(checkRandomSeed(f))
	return r
}

type osFamily int

const (
	famOther osFamily = iota
	famDebian
	famRHEL
)

func osString(f *Facts) string {
	name, ver := f.OSRelease["NAME"], f.OSRelease["VERSION_ID"]
	if name == "" {
		if f.RedHatRelease != "" {
			return f.RedHatRelease
		}
		return "unknown"
	}
	return strings.TrimSpace(name + " " + ver)
}

func family(f *Facts) osFamily {
	name := f.OSRelease["NAME"]
	switch {
	case name == "Ubuntu", strings.HasPrefix(name, "Debian"):
		return famDebian
	case name == "CentOS Linux", name == "CentOS Stream", strings.HasPrefix(name, "Rocky Linux"),
		strings.HasPrefix(name, "AlmaLinux"), strings.HasPrefix(name, "CloudLinux"):
		return famRHEL
	}
	if name == "" && strings.HasPrefix(f.RedHatRelease, "CentOS") {
		return famRHEL
	}
	return famOther
}

func checkRoot(f *Facts) Result {
	x := Result{ID: "run-as-root", Title: "checks run as root", Status: Pass, Upstream: true}
	if f.EUID != 0 {
		x.Status = Fail
		x.Details = []string{fmt.Sprintf("effective uid is %d: /etc/shadow and other users' homes cannot be read", f.EUID)}
		x.Remedy = "connect as root (the Marketplace build user) or run the validation through sudo"
	}
	return x
}

func checkOSFamily(f *Facts, fam osFamily) Result {
	x := Result{ID: "os-family", Title: "supported operating system", Status: Pass, Upstream: true,
		Details: []string{"NAME=" + f.OSRelease["NAME"]}}
	if fam == famOther {
		x.Status = Fail
		x.Remedy = "build from a Marketplace base image: Ubuntu, Debian, CentOS (Linux/Stream), Rocky Linux, AlmaLinux or CloudLinux"
	}
	return x
}

var supportedVersions = map[string]func(v string) bool{
	"Ubuntu": func(v string) bool {
		switch v {
		case "16.04", "18.04", "20.04", "22.04", "22.10", "24.04":
			return true
		}
		return false
	},
	"Debian":        majorIn(9, 13, false),
	"CentOS Linux":  majorIn(6, 8, false),
	"CentOS Stream": majorIn(8, 9, false),
	"Rocky Linux":   majorIn(8, 9, true),
	"AlmaLinux":     majorIn(8, 9, true),
	"CloudLinux":    majorIn(8, 9, true),
}

// majorIn accepts "N" (and "N.x" when minor is allowed) for lo <= N <= hi.
func majorIn(lo, hi int, minor bool) func(string) bool {
	return func(v string) bool {
		maj, rest, hasMinor := strings.Cut(v, ".")
		if hasMinor && (!minor || rest == "" || strings.Trim(rest, "0123456789") != "") {
			return false
		}
		n, err := strconv.Atoi(maj)
		return err == nil && n >= lo && n <= hi
	}
}

func checkOSVersion(f *Facts, fam osFamily) Result {
	name, ver := f.OSRelease["NAME"], f.OSRelease["VERSION_ID"]
	x := Result{ID: "os-version", Title: "supported release", Status: Fail, Upstream: true,
		Details: []string{fmt.Sprintf("NAME=%q VERSION_ID=%q", name, ver)},
		Remedy:  "use a supported release: Ubuntu 16.04-24.04 LTS (and 22.10), Debian 9-13, CentOS 6-8, CentOS Stream 8/9, Rocky/Alma/CloudLinux 8.x or 9.x"}
	key := name
	if strings.HasPrefix(name, "Debian") {
		key = "Debian"
	}
	for k, ok := range supportedVersions {
		if (key == k || strings.HasPrefix(key, k)) && ok(ver) && fam != famOther {
			x.Status, x.Remedy = Pass, ""
		}
	}
	return x
}

func checkCloudInit(f *Facts) Result {
	x := Result{ID: "cloud-init", Title: "cloud-init is installed", Status: Pass, Upstream: true}
	if p, ok := f.Commands["cloud-init"]; ok {
		x.Details = []string{p}
		return x
	}
	x.Status = Fail
	x.Title = "cloud-init is missing"
	x.Details = []string{"cloud-init is not on PATH"}
	x.Remedy = "install cloud-init (apt-get install cloud-init / dnf install cloud-init): droplets get their network, keys and per-instance scripts from it"
	return x
}

func checkFirewall(f *Facts, fam osFamily) Result {
	fw := f.Firewall
	x := Result{ID: "firewall", Title: "a firewall is active", Status: Warn, Upstream: true}
	unit := func(n string) Unit { return fw.Units[n] }
	ufwActive := false
	_, ufwInstalled := f.Commands["ufw"]
	if ufwInstalled {
		switch {
		case fw.UFWStatus != "":
			ufwActive = strings.EqualFold(fw.UFWStatus, "Status: active")
			x.Details = append(x.Details, "ufw status: "+fw.UFWStatus)
		default:
			ufwActive = fw.UFWConfEnabled == "yes"
			x.Details = append(x.Details, "ufw not probed; /etc/ufw/ufw.conf ENABLED="+fw.UFWConfEnabled)
		}
		if ufwActive && fw.UFWConfEnabled != "" && fw.UFWConfEnabled != "yes" {
			ufwActive = false
			x.Details = append(x.Details, "ufw is active now but ENABLED=no: it will be off on the customer's droplet")
		}
	}
	firewalld := unit("firewalld").Active == "active"
	csf := fw.CSFUnit != "" && unit("csf").Active == "active"
	switch {
	case fam != famRHEL && ufwActive:
		x.Status, x.Title = Pass, "firewall (ufw) is active"
	case firewalld:
		x.Status, x.Title = Pass, "firewall (firewalld) is active"
	case fam == famRHEL && csf:
		x.Status, x.Title = Pass, "firewall (csf) is active"
	}
	if x.Status == Warn {
		x.Title = "no firewall is active"
		if fw.IPTablesLoaded {
			x.Details = append(x.Details, "the ip_tables module is loaded, but no managed firewall is active")
		}
		if fam == famRHEL {
			x.Remedy = "enable firewalld (systemctl enable --now firewalld) or csf, allowing only the ports the application needs"
		} else {
			x.Remedy = "install and enable ufw in a recipe script: ufw limit ssh; ufw allow <app ports>; ufw --force enable"
		}
	}
	return x
}

func checkUpdates(f *Facts, o Options) Result {
	u := f.Updates
	x := Result{ID: "security-updates", Title: "no pending security updates", Status: Pass, Upstream: true}
	if u.Manager == "" {
		x.Status = Fail
		x.Title = "pending security updates could not be checked"
		x.Details = []string{"neither apt-get nor dnf/yum was found"}
		x.Remedy = "install the distribution's package manager; the review checks security updates with it"
		return x
	}
	if o.SkipAptUpdate {
		x.Details = append(x.Details, "package lists were not refreshed (skip-apt-update): the result reflects the lists on the machine")
	}
	upgrade := "apt-get -y update && DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold full-upgrade"
	if u.Manager != "apt" {
		upgrade = u.Manager + " -y update --security"
	}
	if u.Refreshed && u.RefreshExit != 0 {
		x.Status = Fail
		x.Title = "pending security updates could not be checked"
		x.Details = append(x.Details, fmt.Sprintf("refreshing package lists exited %d", u.RefreshExit))
		x.Details = append(x.Details, u.RefreshMsgs...)
		x.Remedy = "fix the package sources (and make sure /tmp exists with mode 1777), then re-run the check"
		return x
	}
	failedCheck := (u.Manager == "apt" && u.CheckExit != 0) || (u.Manager != "apt" && u.CheckExit != 0 && u.CheckExit != 100)
	if failedCheck {
		x.Status = Fail
		x.Title = "pending security updates could not be checked"
		x.Details = append(x.Details, fmt.Sprintf("the update check exited %d", u.CheckExit))
		x.Details = append(x.Details, u.CheckMsgs...)
		if u.Manager != "apt" {
			x.Details = append(x.Details, u.Lines...)
		}
		x.Remedy = "fix the package manager's errors above, then re-run the check"
		return x
	}
	if len(u.Packages) > 0 || (u.Manager != "apt" && u.CheckExit == 100) {
		x.Status = Fail
		x.Title = fmt.Sprintf("%d pending security updates", len(u.Packages))
		x.Details = append(x.Details, u.Packages...)
		x.Remedy = "upgrade as the last provisioning step: " + upgrade + " (the review re-checks, so build and submit promptly)"
	}
	return x
}

func isArchive(name string) bool {
	if name == "cpanel-install.log" {
		return false
	}
	// Upstream's "*-????????" also matches cloud-init.log ("init.log" is 8 characters);
	// logrotate's dateext suffix is 8 digits, which is what an archive looks like.
	for _, g := range []string{"*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]", "*.[0-9]", "*.gz", "*.xz", "*.bz2", "*.zst", "*.old"} {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

func checkLogArchives(f *Facts) Result {
	x := Result{ID: "log-archives", Title: "no log archives in /var/log", Status: Pass, Upstream: true, CleanupFixes: true}
	for _, e := range f.VarLog {
		if !isArchive(e.Name) {
			continue
		}
		x.Status = Warn
		x.Details = append(x.Details, withHead(f, "/var/log/"+e.Name, fmt.Sprintf("/var/log/%s (%d bytes)", e.Name, e.Size))...)
	}
	if x.Status != Pass {
		x.Title = "log archives left in /var/log"
		x.Remedy = "delete rotated logs before the snapshot (build_image's cleanup does: rm /var/log/*.gz /var/log/*.[0-9] /var/log/*-YYYYMMDD)"
	}
	return x
}

func withHead(f *Facts, p, line string) []string {
	out := []string{line}
	for _, h := range f.LogHeads[p] {
		out = append(out, "  | "+h)
	}
	return out
}

func checkLogFiles(f *Facts) Result {
	x := Result{ID: "log-files", Title: "log files in /var/log are cleared", Status: Pass, Upstream: true, CleanupFixes: true}
	for _, e := range f.VarLog {
		if e.Type != "f" || !strings.HasSuffix(e.Name, ".log") || e.Name == "cpanel-install.log" {
			continue
		}
		size := e.Size
		if e.Name == "lfd.log" && f.LfdFilteredSize >= 0 {
			size = f.LfdFilteredSize
		}
		if size > 50 {
			x.Status = Warn
			x.Details = append(x.Details, withHead(f, "/var/log/"+e.Name, fmt.Sprintf("/var/log/%s (%d bytes)", e.Name, e.Size))...)
		}
	}
	if x.Status != Pass {
		x.Title = "un-cleared log files in /var/log"
		x.Remedy = "truncate logs as the very last step before shutdown (build_image's cleanup does: truncate -s 0 /var/log/*.log); services that log after it (ufw, rsyslog) re-fill them"
	}
	return x
}

func checkPassword(f *Facts, u User) Result {
	x := Result{ID: "password:" + u.Name, Title: u.Name + " has no password", Status: Pass, Upstream: true}
	if !f.ShadowReadable {
		x.Status = Fail
		x.Title = u.Name + ": /etc/shadow is unreadable"
		x.Remedy = "run the check as root"
		return x
	}
	class, ok := f.Shadow[u.Name]
	if !ok {
		x.Details = []string{"no /etc/shadow entry"}
		return x
	}
	switch class {
	case "!", "!!", "*":
		x.Details = []string{"password field " + class}
		return x
	}
	x.Status = Fail
	x.Title = u.Name + " has a password set"
	x.Details = []string{"password field is " + class + " (only !, !! or * pass)"}
	if u.Name == "root" {
		x.Remedy = "lock root's password: usermod -p '*' root (customers log in with their SSH key; generate per-droplet passwords in a per-instance script)"
	} else {
		x.Remedy = fmt.Sprintf("lock it: usermod -p '!' %s, or delete the user (only system users may ship in the image)", u.Name)
	}
	return x
}

// akFile reports whether name is an authorized_keys file sshd reads.
func akFile(name string) bool { return name == "authorized_keys" || name == "authorized_keys2" }

func checkAuthorizedKeys(u User) Result {
	x := Result{ID: "authorized-keys:" + u.Name, Title: u.Name + " has no authorized_keys", Status: Pass, Upstream: true, CleanupFixes: true}
	keysIn := map[string]int{}
	for _, k := range u.AuthorizedKeys {
		if !k.Unparsed {
			keysIn[path.Base(k.File)]++
		}
	}
	for _, e := range u.SSH {
		if !akFile(e.Name) {
			continue
		}
		// Stricter than the 50-byte rule: any real key fails, whatever the size.
		if e.Size > 50 || keysIn[e.Name] > 0 {
			x.Status = Fail
			x.Details = append(x.Details, fmt.Sprintf("%s/.ssh/%s (%d bytes, %d keys)", u.Home, e.Name, e.Size, keysIn[e.Name]))
		}
	}
	for _, k := range u.AuthorizedKeys {
		if !k.Unparsed {
			x.Details = append(x.Details, fmt.Sprintf("  %s line %d: %s %s %s", k.File, k.Line, k.Type, k.SHA256, k.Comment))
		}
	}
	if x.Status == Pass {
		x.Details = nil
		return x
	}
	x.Title = u.Name + " has a populated authorized_keys"
	x.Remedy = fmt.Sprintf("rm -f %s/.ssh/authorized_keys before the snapshot (build_image's cleanup does); customers' keys are added by cloud-init", u.Home)
	return x
}

var privateKeyNames = map[string]bool{"id_rsa": true, "id_dsa": true, "id_ecdsa": true, "id_ed25519": true, "id_ecdsa_sk": true, "id_ed25519_sk": true}

func checkPrivateKeys(u User) Result {
	x := Result{ID: "private-key:" + u.Name, Title: u.Name + " has no private key", Status: Pass, Upstream: true}
	for _, e := range u.SSH {
		if !privateKeyNames[e.Name] {
			continue
		}
		p := u.Home + "/.ssh/" + e.Name
		switch {
		case e.Size > 0:
			x.Status = Fail
			x.Details = append(x.Details, fmt.Sprintf("%s (%d bytes)", p, e.Size))
		case x.Status != Fail:
			x.Status = Warn
			x.Details = append(x.Details, p+" (empty)")
		}
	}
	switch x.Status {
	case Fail:
		x.Title = u.Name + " has a private key in ~/.ssh"
		x.Remedy = "delete the private key (every droplet would share it); generate per-droplet keys in a per-instance script"
	case Warn:
		x.Title = u.Name + " has an empty private key file"
		x.Remedy = "delete the empty key file"
	}
	return x
}

func checkSSHFiles(u User) Result {
	x := Result{ID: "ssh-files:" + u.Name, Title: u.Name + " has no other files in ~/.ssh", Status: Pass, Upstream: true}
	for _, e := range u.SSH {
		p := u.Home + "/.ssh/" + e.Name
		switch {
		case akFile(e.Name), privateKeyNames[e.Name]:
		case e.Name == "known_hosts":
			if e.Size > 50 {
				x.Status = Warn
				x.Details = append(x.Details, fmt.Sprintf("%s (%d bytes)", p, e.Size))
			}
		default:
			x.Status = Warn
			x.Details = append(x.Details, fmt.Sprintf("%s (%d bytes)", p, e.Size))
		}
	}
	if x.Status != Pass {
		x.Title = u.Name + " has files in ~/.ssh"
		x.Remedy = "remove files in ~/.ssh the image does not need (known_hosts, public keys, config)"
	}
	return x
}

func checkHistory(u User) Result {
	x := Result{ID: "bash-history:" + u.Name, Title: u.Name + "'s shell history is cleared", Status: Pass, Upstream: true, CleanupFixes: true}
	for _, e := range u.Histories {
		p := u.Home + "/" + e.Name
		switch {
		case e.Name == ".bash_history" && e.Size >= 200:
			x.Status = Fail
			x.Details = append(x.Details, fmt.Sprintf("%s (%d bytes)", p, e.Size))
		case e.Name != ".bash_history" && e.Size > 0:
			// Not an upstream rule: other shells' and tools' histories leak the same way.
			if x.Status == Pass {
				x.Status = Warn
			}
			x.Details = append(x.Details, fmt.Sprintf("%s (%d bytes)", p, e.Size))
		}
	}
	if x.Status != Pass {
		x.Title = u.Name + "'s shell history is not cleared"
		x.Remedy = fmt.Sprintf("rm -f %s/.*history before the snapshot (build_image's cleanup does)", u.Home)
	}
	return x
}

func checkAgent(f *Facts) Result {
	x := Result{ID: "do-agent", Title: "no DigitalOcean agent", Status: Pass, Upstream: true, CleanupFixes: true}
	if len(f.DOAgent) > 0 {
		x.Status = Fail
		x.Title = "DigitalOcean agent files are present"
		x.Details = append(append([]string{}, f.DOAgent...), f.DOAgentEntries...)
		x.Remedy = "apt-get purge droplet-agent do-agent (yum remove on RHEL) and rm -rf /opt/digitalocean; droplets install their own agent"
	}
	return x
}

// buildKeyMatches says whether k is the build key given as a line or a fingerprint.
func buildKeyMatcher(buildKey string) (func(Key) bool, error) {
	bk := strings.TrimSpace(buildKey)
	if strings.HasPrefix(bk, "SHA256:") {
		return func(k Key) bool { return k.SHA256 == bk }, nil
	}
	if strings.HasPrefix(bk, "MD5:") || regexp.MustCompile(`^([0-9a-f]{2}:){15}[0-9a-f]{2}$`).MatchString(bk) {
		md5 := strings.TrimPrefix(bk, "MD5:")
		return func(k Key) bool { return k.MD5 == md5 }, nil
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(bk))
	if err != nil {
		return nil, fmt.Errorf("build key is neither an authorized_keys line nor a fingerprint: %w", err)
	}
	fp := ssh.FingerprintSHA256(pk)
	return func(k Key) bool { return k.SHA256 == fp }, nil
}

func checkBuildKey(f *Facts, buildKey string) (Result, bool) {
	if strings.TrimSpace(buildKey) == "" {
		return Result{}, false
	}
	x := Result{ID: "build-key", Title: "the build's key is in no authorized_keys", Status: Pass, CleanupFixes: true}
	match, err := buildKeyMatcher(buildKey)
	if err != nil {
		x.Status = Fail
		x.Title = "the build's key could not be checked"
		x.Details = []string{err.Error()}
		x.Remedy = "pass the build key as an authorized_keys line or a SHA256: fingerprint"
		return x, true
	}
	found := func(account string, keys []Key) {
		for _, k := range keys {
			if !k.Unparsed && match(k) {
				x.Status = Fail
				x.Details = append(x.Details, fmt.Sprintf("%s: %s line %d (%s)", account, k.File, k.Line, k.SHA256))
			}
		}
	}
	for _, u := range f.Users {
		found(u.Name, u.AuthorizedKeys)
	}
	// System accounts and /etc/ssh: no img_check rule looks there, but the build key there
	// still lets whoever holds it log into every customer's droplet.
	accounts := make([]string, 0, len(f.OtherKeys))
	for a := range f.OtherKeys {
		accounts = append(accounts, a)
	}
	sort.Strings(accounts)
	for _, a := range accounts {
		name := a
		if name == "" {
			name = "sshd"
		}
		found(name, f.OtherKeys[a])
	}
	if x.Status == Fail {
		x.Title = "the build's own key is still authorized"
		x.Remedy = "remove the build key from every authorized_keys (build_image's cleanup does); anyone with it could log into customers' droplets"
	}
	return x, true
}

func checkScripts(f *Facts) Result {
	x := Result{ID: "per-instance-scripts", Title: "first-boot scripts are executable and have a shebang", Status: Pass}
	for _, s := range f.Scripts {
		p := fmt.Sprintf("/var/lib/cloud/scripts/%s/%s", s.Dir, s.Name)
		if s.FileType != "regular file" {
			x.Status = Fail
			x.Details = append(x.Details, fmt.Sprintf("%s is a %s, not a file", p, s.FileType))
			continue
		}
		var bad []string
		if s.Mode&0o111 == 0 {
			bad = append(bad, fmt.Sprintf("not executable (mode %04o): cloud-init skips it", s.Mode))
		}
		if !strings.HasPrefix(s.FirstLine, "#!") && !strings.HasPrefix(s.FirstLine, "\x7fELF") {
			bad = append(bad, fmt.Sprintf("no #! line (starts %q): exec fails", firstN(s.FirstLine, 40)))
		}
		if len(bad) > 0 {
			x.Status = Fail
			x.Details = append(x.Details, p+": "+strings.Join(bad, "; "))
		}
	}
	if x.Status != Pass {
		x.Title = "first-boot scripts will not run"
		x.Remedy = "start each script with #!/bin/sh (or bash) and chmod 0755 it (in the recipe's files/ tree or a script)"
	}
	return x
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// forceCommands lists the "please wait" ForceCommand lines in sshd's config.
func forceCommands(f *Facts) []string {
	var out []string
	for _, file := range f.SSHDConfig {
		matchRoot := false
		for i, l := range strings.Split(file.Content, "\n") {
			t := strings.TrimSpace(l)
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			fields := strings.Fields(t)
			kw := strings.ToLower(fields[0])
			if kw == "match" {
				matchRoot = strings.Contains(strings.ToLower(t), "user root")
				continue
			}
			if kw != "forcecommand" {
				continue
			}
			low := strings.ToLower(t)
			if matchRoot || strings.Contains(low, "echo") || strings.Contains(low, "wait") {
				out = append(out, fmt.Sprintf("%s:%d: %s", file.Path, i+1, t))
			}
		}
	}
	return out
}

func checkForceCommand(f *Facts) Result {
	x := Result{ID: "forcecommand", Title: "no root ForceCommand is left without a script removing it", Status: Pass}
	fc := forceCommands(f)
	if len(fc) == 0 {
		return x
	}
	x.Details = fc
	var removers []string
	for _, s := range f.Scripts {
		if s.FileType == "regular file" && s.Mode&0o111 != 0 && (s.ForceCommand > 0 || s.MatchRoot > 0 || s.SSHDConfig > 0) {
			removers = append(removers, s.Dir+"/"+s.Name)
		}
	}
	if len(removers) > 0 {
		x.Details = append(x.Details, "removed at first boot by "+strings.Join(removers, ", "))
		return x
	}
	x.Status = Fail
	x.Title = "sshd's \"please wait\" ForceCommand stays forever"
	x.Details = append(x.Details, "no executable per-instance script edits sshd_config")
	x.Remedy = "in /var/lib/cloud/scripts/per-instance/001_onboot: sed -i -e '/Match User root/d' -e '/ForceCommand/d' /etc/ssh/sshd_config && systemctl restart ssh"
	return x
}

func checkMOTD(f *Facts) Result {
	x := Result{ID: "motd", Title: "no stock DigitalOcean LAMP/LEMP message of the day", Status: Pass}
	for _, h := range f.MOTD {
		x.Status = Warn
		x.Details = append(x.Details, fmt.Sprintf("%s:%d: %s", h.Path, h.Line, h.Text))
	}
	if x.Status != Pass {
		x.Title = "DigitalOcean's stock LAMP/LEMP MOTD is left in place"
		x.Remedy = "replace it with your application's own message (files/etc/update-motd.d/99-one-click in the recipe)"
	}
	return x
}

// tmpIgnored are entries the system itself makes: systemd's private service dirs and the
// X/ICE socket dirs systemd-tmpfiles creates empty at boot.
func tmpIgnored(name string) bool {
	top, _, _ := strings.Cut(name, "/")
	if strings.HasPrefix(top, "systemd-private-") {
		return true
	}
	switch top {
	case ".X11-unix", ".ICE-unix", ".XIM-unix", ".font-unix", ".Test-unix":
		return name == top
	}
	return false
}

func checkTmp(f *Facts) Result {
	x := Result{ID: "tmp", Title: "/tmp and /var/tmp are empty with mode 1777", Status: Pass, CleanupFixes: true}
	var fails, warns []string
	for _, d := range f.Tmp {
		switch {
		case !d.Exists:
			fails = append(fails, d.Path+" is missing (apt-get update fails without it, mp#94)")
			continue
		case d.Mode != 0o1777:
			fails = append(fails, fmt.Sprintf("%s has mode %04o, not 1777 (apt-get update fails, mp#94)", d.Path, d.Mode))
		}
		var left []string
		for _, e := range d.Entries {
			if strings.Contains(e.Name, "/") && !tmpIgnored(e.Name) {
				top, _, _ := strings.Cut(e.Name, "/")
				if tmpIgnored(top) {
					left = append(left, fmt.Sprintf("%s/%s (%d bytes)", d.Path, e.Name, e.Size))
				}
				continue
			}
			if !tmpIgnored(e.Name) {
				left = append(left, fmt.Sprintf("%s/%s (%s, %d bytes)", d.Path, e.Name, e.Type, e.Size))
			}
		}
		warns = append(warns, left...)
	}
	sort.Strings(warns)
	switch {
	case len(fails) > 0:
		x.Status = Fail
		x.Title = "/tmp or /var/tmp is missing or has the wrong mode"
		x.Remedy = "mkdir -p /tmp /var/tmp && chmod 1777 /tmp /var/tmp"
	case len(warns) > 0:
		x.Status = Warn
		x.Title = "files are left in /tmp or /var/tmp"
		x.Remedy = "delete them before the snapshot (build_image's cleanup does: find /tmp /var/tmp -mindepth 1 -delete)"
	}
	x.Details = append(fails, warns...)
	return x
}

var appInfoKeys = []string{"application_name", "build_date", "distro", "distro_release", "distro_codename", "distro_arch", "application_version"}

func checkAppInfo(f *Facts) Result {
	x := Result{ID: "application-info", Title: "/var/lib/digitalocean/application.info is present", Status: Pass}
	if f.AppInfo == nil {
		x.Status = Warn
		x.Title = "/var/lib/digitalocean/application.info is missing"
		x.Remedy = "write it during provisioning with key=\"value\" lines: " + strings.Join(appInfoKeys, ", ")
		return x
	}
	kv := parseKV(f.AppInfo.Content)
	var missing []string
	for _, k := range appInfoKeys {
		if kv[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		x.Status = Warn
		x.Title = "application.info lacks keys"
		x.Details = []string{"missing or empty: " + strings.Join(missing, ", ")}
		x.Remedy = "add the missing key=\"value\" lines to /var/lib/digitalocean/application.info"
	}
	return x
}

// checkMachineID: every droplet made from an image with a machine-id shares it, and with it
// DHCP client IDs, journald and D-Bus identities and the node IDs agents derive from it.
func checkMachineID(f *Facts) Result {
	x := Result{ID: "machine-id", Title: "/etc/machine-id is empty: each droplet makes its own at first boot", Status: Pass, CleanupFixes: true}
	id := f.Identity
	switch id.MachineID {
	case "empty", "uninitialized":
		x.Details = []string{"/etc/machine-id: " + id.MachineID}
	case "missing":
		x.Details = []string{"/etc/machine-id is missing: systemd writes one at first boot (an empty file is the documented form)"}
	case "set":
		x.Status = Fail
		x.Details = []string{"/etc/machine-id holds this machine's ID: every droplet made from the image would share it"}
	case "link":
		x.Status = Fail
		x.Details = []string{"/etc/machine-id is a symbolic link: systemd cannot write a droplet's own ID there"}
	default:
		x.Status = Fail
		x.Details = []string{"the state of /etc/machine-id could not be read"}
	}
	switch d := id.DBusMachineID; {
	case d == "set":
		x.Status = Fail
		x.Details = append(x.Details, "/var/lib/dbus/machine-id is a copy of an ID, not a link to /etc/machine-id: D-Bus would keep the build's")
	case strings.HasPrefix(d, "link:"):
		x.Details = append(x.Details, "/var/lib/dbus/machine-id -> "+strings.TrimPrefix(d, "link:"))
	}
	if x.Status == Fail {
		x.Title = "the image would give every droplet the same machine-id"
		x.Remedy = "empty it, do not delete it, as the last step: truncate -s 0 /etc/machine-id && ln -sf /etc/machine-id /var/lib/dbus/machine-id (build_image's cleanup does)"
	}
	return x
}

// checkRandomSeed: a seed file in the image starts every droplet's entropy pool from the
// same bytes. The kernel mixes in its own entropy, so this warns rather than fails.
func checkRandomSeed(f *Facts) Result {
	x := Result{ID: "random-seed", Title: "no random seed for every droplet to share", Status: Pass, CleanupFixes: true}
	for _, e := range f.Identity.RandomSeeds {
		if e.Size > 0 {
			x.Status = Warn
			x.Details = append(x.Details, fmt.Sprintf("%s (%d bytes)", e.Name, e.Size))
		}
	}
	if x.Status != Pass {
		x.Title = "a random seed would be shared by every droplet"
		x.Remedy = "systemctl stop systemd-random-seed.service (it saves a seed when stopped, so not at shutdown), then rm -f /var/lib/systemd/random-seed (build_image's cleanup does)"
	}
	return x
}
