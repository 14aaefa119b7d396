package imagecheck

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/shell"
	"golang.org/x/crypto/ssh"
)

//go:embed collect.sh
var collectScript string

// Facts is everything the rules need, gathered in one round trip.
type Facts struct {
	Host          string
	UID, EUID     int
	OSRelease     map[string]string // keys of /etc/os-release, unquoted
	RedHatRelease string
	Commands      map[string]string // installed command -> path
	Firewall      Firewall
	Updates       Updates
	// Shadow maps a user to the class of its password field: "!", "!!", "*",
	// "<empty>", "<locked>" (a locked hash) or "<hash>"; hashes never leave the machine.
	Shadow         map[string]string
	ShadowReadable bool
	Users          []User
	// OtherKeys are the authorized_keys of accounts the user rules skip (system users) and
	// under /etc/ssh, by account ("" for /etc/ssh); only the build-key rule reads them.
	OtherKeys       map[string][]Key `json:",omitempty"`
	VarLog          []Entry
	LfdFilteredSize int64               // -1 when there is no lfd.log
	LogHeads        map[string][]string // /var/log path -> first lines
	DOAgent         []string            // /opt/digitalocean and the like, when present
	DOAgentEntries  []string
	Tmp             []TmpDir
	Scripts         []Script
	SSHDConfig      []File
	MOTD            []MOTDHit
	AppInfo         *File
	DiskUsed        int64 `json:",omitempty"` // bytes used on /; 0: unknown
	Identity        Identity
	// Packages is what is installed, for the SBOM; no rule reads it.
	Packages Packages
}

// Identity is what would make every droplet of the image the same machine.
type Identity struct {
	// MachineID is the state of /etc/machine-id, never its value: "empty",
	// "uninitialized", "missing", "set" or "link".
	MachineID string
	// DBusMachineID is /var/lib/dbus/machine-id: "" (absent), "set", "empty" or
	// "link:<target>".
	DBusMachineID string
	RandomSeeds   []Entry // seed files, Name their path
}

// Firewall is what the machine says about its firewalls.
type Firewall struct {
	UFWConfEnabled string // ENABLED= in /etc/ufw/ufw.conf, "" when absent
	UFWStatus      string // first line of `ufw status`, "" when not run
	Units          map[string]Unit
	CSFUnit        string // path of csf.service when installed
	IPTablesLoaded bool
}

// Unit is a systemd unit's state.
type Unit struct{ Active, Enabled string }

// Updates is the pending security updates as the package manager reports them.
type Updates struct {
	Manager     string // apt, dnf, yum, or "" when none was found
	Refreshed   bool   // package lists refreshed before looking
	RefreshExit int
	RefreshMsgs []string
	CheckExit   int // apt-get --just-print or check-update exit status
	CheckMsgs   []string
	Lines       []string
	Packages    []string  // names of packages with a pending security update
	Pending     []Pending // every pending upgrade (apt), with both versions
}

// Entry is one directory entry as find -printf reports it.
type Entry struct {
	Type string // f, d, l, ...
	Size int64
	Mode uint32
	Name string // relative to the directory listed
}

// User is a login the rules look at: root and UID >= 1000.
type User struct {
	Name           string
	UID            int
	Home           string
	HomeExists     bool
	SSHDir         bool
	SSH            []Entry // ~/.ssh top level
	Histories      []Entry // ~/.*history
	AuthorizedKeys []Key
}

// Key is one authorized_keys entry; only its fingerprints are kept.
type Key struct {
	File          string
	Line          int
	Type, Comment string
	SHA256, MD5   string
	Unparsed      bool // a non-comment line that is not a key
}

// TmpDir is /tmp or /var/tmp.
type TmpDir struct {
	Path    string
	Exists  bool
	Mode    uint32
	Entries []Entry // two levels deep, Name relative to Path
}

// Script is a cloud-init per-instance (per-boot, per-once) script.
type Script struct {
	Dir, Name    string
	FileType     string // as stat %F says: "regular file", "directory", ...
	Mode         uint32
	Size         int64
	FirstLine    string
	ForceCommand int // lines mentioning ForceCommand
	MatchRoot    int // lines mentioning "Match User root"
	SSHDConfig   int // lines mentioning sshd_config
}

// File is a small text file's path and content.
type File struct{ Path, Content string }

// MOTDHit is a line of DigitalOcean's stock LAMP/LEMP welcome text.
type MOTDHit struct {
	Path string
	Line int
	Text string
}

// collectCommand is the collect script with o's settings as its environment; run it with sh.
func collectCommand(o Options) string {
	var b strings.Builder
	b.WriteString("MPI_APT_UPDATE=")
	if o.SkipAptUpdate {
		b.WriteString("0")
	} else {
		b.WriteString("1")
	}
	b.WriteString(" MPI_FW_PROBE=")
	if o.noFirewallProbe {
		b.WriteString("0")
	} else {
		b.WriteString("1")
	}
	if o.root != "" {
		b.WriteString(" MPI_ROOT=" + shell.Quote(o.root))
	}
	b.WriteString(" sh -c " + shell.Quote(collectScript))
	return b.String()
}

// Collect runs the collect script over r in one round trip and parses its output.
func Collect(ctx context.Context, r Runner, o Options) (*Facts, error) {
	stdout, stderr, code, err := r.Output(ctx, collectCommand(o))
	if err != nil {
		return nil, fmt.Errorf("collect image facts: %w", err)
	}
	f, perr := parseFacts(stdout)
	if perr != nil {
		return nil, fmt.Errorf("collect image facts (exit %d, stderr %q): %w; check that sh, coreutils, findutils, grep and sed are installed", code, firstLines(string(stderr), 5), perr)
	}
	return f, nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

const marker = "@@MPI@@\t"

type section struct {
	name  string
	args  []string
	lines []string
}

func splitSections(out []byte) ([]section, error) {
	var secs []section
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, marker) {
			parts := strings.Split(line[len(marker):], "\t")
			secs = append(secs, section{name: parts[0], args: parts[1:]})
			continue
		}
		if len(secs) == 0 || line == "" {
			continue
		}
		s := &secs[len(secs)-1]
		s.lines = append(s.lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read collect output: %w", err)
	}
	if len(secs) == 0 || secs[0].name != "begin" {
		return nil, fmt.Errorf("collect output does not start with the begin marker")
	}
	if secs[len(secs)-1].name != "end" {
		return nil, fmt.Errorf("collect output is truncated: no end marker after section %q", secs[len(secs)-1].name)
	}
	return secs, nil
}

func decodeB64(lines []string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.Join(lines, ""))
	if err != nil {
		return "", fmt.Errorf("decode base64: %w", err)
	}
	return string(b), nil
}

func arg(s section, i int) string {
	if i < len(s.args) {
		return s.args[i]
	}
	return ""
}

// parseFacts turns the collect script's output into Facts.
func parseFacts(out []byte) (*Facts, error) {
	secs, err := splitSections(out)
	if err != nil {
		return nil, err
	}
	f := &Facts{
		UID: -1, EUID: -1,
		OSRelease:       map[string]string{},
		Commands:        map[string]string{},
		Shadow:          map[string]string{},
		LogHeads:        map[string][]string{},
		LfdFilteredSize: -1,
		Firewall:        Firewall{Units: map[string]Unit{}},
	}
	var user *User
	for _, s := range secs {
		if s.name != "user" && s.name != "authorized_keys" {
			user = nil
		}
		switch s.name {
		case "id":
			for _, l := range s.lines {
				k, v, _ := strings.Cut(l, "\t")
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil {
					return nil, fmt.Errorf("section id: %q: %w", l, err)
				}
				switch k {
				case "uid":
					f.UID = n
				case "euid":
					f.EUID = n
				}
			}
		case "hostname":
			if len(s.lines) > 0 {
				f.Host = strings.TrimSpace(s.lines[0])
			}
		case "disk":
			for _, l := range s.lines {
				if v, ok := strings.CutPrefix(l, "used-kb\t"); ok {
					if kb, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
						f.DiskUsed = kb << 10
					}
				}
			}
		case "os-release":
			txt, err := decodeB64(s.lines)
			if err != nil {
				return nil, fmt.Errorf("section os-release: %w", err)
			}
			f.OSRelease = parseKV(txt)
		case "redhat-release":
			txt, err := decodeB64(s.lines)
			if err != nil {
				return nil, fmt.Errorf("section redhat-release: %w", err)
			}
			f.RedHatRelease = strings.TrimSpace(txt)
		case "commands":
			for _, l := range s.lines {
				k, v, _ := strings.Cut(l, "\t")
				f.Commands[k] = v
			}
		case "firewall":
			parseFirewall(&f.Firewall, s.lines)
		case "updates":
			if err := parseUpdates(&f.Updates, s.lines); err != nil {
				return nil, err
			}
		case "shadow":
			f.ShadowReadable = true
			for _, l := range s.lines {
				if l == "@unreadable" {
					f.ShadowReadable = false
					continue
				}
				k, v, _ := strings.Cut(l, "\t")
				f.Shadow[k] = v
			}
		case "user":
			uid, err := strconv.Atoi(arg(s, 1))
			if err != nil {
				return nil, fmt.Errorf("section user %q: uid: %w", arg(s, 0), err)
			}
			f.Users = append(f.Users, User{Name: arg(s, 0), UID: uid, Home: arg(s, 2)})
			user = &f.Users[len(f.Users)-1]
			for _, l := range s.lines {
				k, v, _ := strings.Cut(l, "\t")
				switch k {
				case "home":
					user.HomeExists = v == "present"
				case "ssh-dir":
					user.SSHDir = v == "present"
				case "ssh", "history":
					e, err := parseEntry(v, true)
					if err != nil {
						return nil, fmt.Errorf("user %s: %w", user.Name, err)
					}
					if k == "ssh" {
						user.SSH = append(user.SSH, e)
					} else {
						user.Histories = append(user.Histories, e)
					}
				}
			}
		case "authorized_keys":
			if user == nil || user.Name != arg(s, 0) {
				return nil, fmt.Errorf("authorized_keys section for %q outside its user section", arg(s, 0))
			}
			txt, err := decodeB64(s.lines)
			if err != nil {
				return nil, fmt.Errorf("authorized_keys of %s: %w", user.Name, err)
			}
			user.AuthorizedKeys = append(user.AuthorizedKeys, parseAuthorizedKeys(arg(s, 1), txt)...)
		case "other-authorized-keys":
			txt, err := decodeB64(s.lines)
			if err != nil {
				return nil, fmt.Errorf("authorized_keys %s: %w", arg(s, 1), err)
			}
			if f.OtherKeys == nil {
				f.OtherKeys = map[string][]Key{}
			}
			f.OtherKeys[arg(s, 0)] = append(f.OtherKeys[arg(s, 0)], parseAuthorizedKeys(arg(s, 1), txt)...)
		case "varlog":
			for _, l := range s.lines {
				if v, ok := strings.CutPrefix(l, "@lfd-filtered-size\t"); ok {
					n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					if err != nil {
						return nil, fmt.Errorf("varlog lfd size %q: %w", v, err)
					}
					f.LfdFilteredSize = n
					continue
				}
				e, err := parseEntry(l, false)
				if err != nil {
					return nil, fmt.Errorf("varlog: %w", err)
				}
				f.VarLog = append(f.VarLog, e)
			}
		case "loghead":
			txt, err := decodeB64(s.lines)
			if err != nil {
				return nil, fmt.Errorf("loghead %s: %w", arg(s, 0), err)
			}
			f.LogHeads[arg(s, 0)] = strings.Split(strings.TrimRight(printable(txt), "\n"), "\n")
		case "do-agent":
			for _, l := range s.lines {
				k, v, _ := strings.Cut(l, "\t")
				switch k {
				case "present":
					f.DOAgent = append(f.DOAgent, v)
				case "entry":
					f.DOAgentEntries = append(f.DOAgentEntries, v)
				}
			}
		case "tmp":
			d := TmpDir{Path: arg(s, 0), Exists: true}
			for _, l := range s.lines {
				k, v, _ := strings.Cut(l, "\t")
				switch k {
				case "missing":
					d.Exists = false
				case "mode":
					m, err := strconv.ParseUint(v, 8, 32)
					if err != nil {
						return nil, fmt.Errorf("mode of %s %q: %w", d.Path, v, err)
					}
					d.Mode = uint32(m)
				case "entry":
					e, err := parseEntry(v, false)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", d.Path, err)
					}
					d.Entries = append(d.Entries, e)
				}
			}
			f.Tmp = append(f.Tmp, d)
		case "script":
			sc := Script{Dir: arg(s, 0), Name: arg(s, 1)}
			for _, l := range s.lines {
				parts := strings.Split(l, "\t")
				switch parts[0] {
				case "stat":
					if len(parts) != 4 {
						return nil, fmt.Errorf("script %s stat line %q", sc.Name, l)
					}
					sc.FileType = parts[1]
					m, err := strconv.ParseUint(parts[2], 8, 32)
					if err != nil {
						return nil, fmt.Errorf("script %s mode: %w", sc.Name, err)
					}
					sc.Mode = uint32(m)
					sc.Size, _ = strconv.ParseInt(parts[3], 10, 64)
				case "first":
					if len(parts) > 1 {
						txt, err := decodeB64(parts[1:2])
						if err != nil {
							return nil, fmt.Errorf("script %s first line: %w", sc.Name, err)
						}
						sc.FirstLine = strings.TrimRight(txt, "\r\n")
					}
				case "forcecommand", "match-root", "sshd_config":
					n := 0
					if len(parts) > 1 {
						n, _ = strconv.Atoi(strings.TrimSpace(parts[1]))
					}
					switch parts[0] {
					case "forcecommand":
						sc.ForceCommand = n
					case "match-root":
						sc.MatchRoot = n
					default:
						sc.SSHDConfig = n
					}
				}
			}
			f.Scripts = append(f.Scripts, sc)
		case "sshd":
			txt, err := decodeB64(s.lines)
			if err != nil {
				return nil, fmt.Errorf("sshd config %s: %w", arg(s, 0), err)
			}
			f.SSHDConfig = append(f.SSHDConfig, File{Path: arg(s, 0), Content: txt})
		case "motd":
			for _, l := range s.lines {
				path, rest, _ := strings.Cut(l, "\t")
				num, text, _ := strings.Cut(rest, ":")
				n, _ := strconv.Atoi(num)
				f.MOTD = append(f.MOTD, MOTDHit{Path: path, Line: n, Text: strings.TrimSpace(text)})
			}
		case "identity":
			for _, l := range s.lines {
				parts := strings.Split(l, "\t")
				switch parts[0] {
				case "machine-id":
					f.Identity.MachineID = arg(section{args: parts}, 1)
				case "dbus-machine-id":
					f.Identity.DBusMachineID = arg(section{args: parts}, 1)
					if f.Identity.DBusMachineID == "link" {
						f.Identity.DBusMachineID = "link:" + arg(section{args: parts}, 2)
					}
				case "random-seed":
					n, err := strconv.ParseInt(strings.TrimSpace(arg(section{args: parts}, 1)), 10, 64)
					if err != nil {
						return nil, fmt.Errorf("random seed %q: %w", l, err)
					}
					f.Identity.RandomSeeds = append(f.Identity.RandomSeeds, Entry{Type: "f", Size: n, Name: arg(section{args: parts}, 2)})
				}
			}
		case "packages":
			if err := parsePackages(&f.Packages, s.lines); err != nil {
				return nil, err
			}
		case "appinfo":
			if len(s.lines) > 0 && s.lines[0] == "present" {
				txt, err := decodeB64(s.lines[1:])
				if err != nil {
					return nil, fmt.Errorf("application.info: %w", err)
				}
				f.AppInfo = &File{Path: "/var/lib/digitalocean/application.info", Content: txt}
			}
		}
	}
	return f, nil
}

// parseEntry reads "type size [mode] name" as printed by find -printf.
func parseEntry(l string, withMode bool) (Entry, error) {
	n := 3
	if withMode {
		n = 4
	}
	parts := strings.SplitN(l, "\t", n)
	if len(parts) != n {
		return Entry{}, fmt.Errorf("entry %q: want %d tab-separated fields", l, n)
	}
	size, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return Entry{}, fmt.Errorf("entry %q: size: %w", l, err)
	}
	e := Entry{Type: parts[0], Size: size, Name: parts[n-1]}
	if withMode {
		m, err := strconv.ParseUint(parts[2], 8, 32)
		if err != nil {
			return Entry{}, fmt.Errorf("entry %q: mode: %w", l, err)
		}
		e.Mode = uint32(m)
	}
	return e, nil
}

func parseKV(txt string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(txt, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		m[strings.TrimSpace(k)] = v
	}
	return m
}

func parseFirewall(fw *Firewall, lines []string) {
	for _, l := range lines {
		parts := strings.Split(l, "\t")
		switch parts[0] {
		case "ufw-conf-enabled":
			fw.UFWConfEnabled = strings.ToLower(arg(section{args: parts}, 1))
		case "ufw-status":
			fw.UFWStatus = strings.TrimSpace(arg(section{args: parts}, 1))
		case "unit":
			if len(parts) >= 4 {
				fw.Units[parts[1]] = Unit{Active: parts[2], Enabled: parts[3]}
			}
		case "csf-unit":
			fw.CSFUnit = arg(section{args: parts}, 1)
		case "ip_tables-loaded":
			fw.IPTablesLoaded = true
		}
	}
}

func parseUpdates(u *Updates, lines []string) error {
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "\t")
		var err error
		switch k {
		case "manager":
			u.Manager = v
		case "update-exit":
			u.Refreshed = true
			u.RefreshExit, err = strconv.Atoi(v)
		case "update-msg":
			u.RefreshMsgs = append(u.RefreshMsgs, v)
		case "simulate-exit", "check-exit":
			u.CheckExit, err = strconv.Atoi(v)
		case "simulate-msg":
			u.CheckMsgs = append(u.CheckMsgs, v)
		case "line":
			u.Lines = append(u.Lines, v)
		case "pending":
			if p, ok := parsePending(v); ok {
				u.Pending = append(u.Pending, p)
			}
		}
		if err != nil {
			return fmt.Errorf("updates %q: %w", l, err)
		}
	}
	switch u.Manager {
	case "apt":
		u.Packages = aptSecurityPackages(u.Lines)
	case "dnf", "yum":
		u.Packages = yumSecurityPackages(u.Lines)
	}
	return nil
}

// aptSecurityPackages names the packages in `apt-get --just-print upgrade` lines from a
// security suite; upstream halves a line count, which reads one lone line as zero.
func aptSecurityPackages(lines []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		fields := strings.Fields(l)
		if len(fields) < 2 || (fields[0] != "Inst" && fields[0] != "Conf") {
			continue
		}
		if !strings.Contains(strings.ToLower(l), "security") {
			continue
		}
		if !seen[fields[1]] {
			seen[fields[1]] = true
			out = append(out, fields[1])
		}
	}
	sort.Strings(out)
	return out
}

// yumSecurityPackages reads `check-update --security` package lines: "name.arch version repo".
func yumSecurityPackages(lines []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		fields := strings.Fields(l)
		if len(fields) != 3 || strings.HasSuffix(fields[0], ":") {
			continue
		}
		low := strings.ToLower(l)
		if strings.HasPrefix(low, "last metadata") || strings.HasPrefix(low, "security:") || strings.HasPrefix(low, "obsoleting") {
			continue
		}
		name := fields[0]
		if i := strings.LastIndex(name, "."); i > 0 {
			name = name[:i]
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// parseAuthorizedKeys keeps the type, comment and fingerprints of each key, never the key.
func parseAuthorizedKeys(file, txt string) []Key {
	var keys []Key
	for i, l := range strings.Split(txt, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		pk, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(l))
		if err != nil {
			keys = append(keys, Key{File: file, Line: i + 1, Unparsed: true})
			continue
		}
		keys = append(keys, Key{File: file, Line: i + 1, Type: pk.Type(), Comment: comment,
			SHA256: ssh.FingerprintSHA256(pk), MD5: ssh.FingerprintLegacyMD5(pk)})
	}
	return keys
}

// printable replaces control bytes so log heads cannot garble a console or a summary.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '?'
		}
		return r
	}, s)
}
