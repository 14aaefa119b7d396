package recipe

import (
	"fmt"
	"path"
	"strings"
)

// AptStep says whether the build runs its own package update and full
// upgrade before provisioning, and why. setting is the apt-upgrade option:
// "true" and "false" decide; "auto" runs it, except for a Packer template
// with a provisioner that upgrades the packages itself (as nearly every
// template does: running both only doubles the time to the first error).
func (p *Plan) AptStep(setting string) (run bool, why string) {
	switch setting {
	case "true":
		return true, "apt-upgrade is true"
	case "false":
		return false, "apt-upgrade is false"
	}
	if !strings.HasPrefix(p.Source, "packer:") {
		return true, "a recipe folder gets it before its scripts"
	}
	var update string
	for _, a := range p.Actions {
		if a.Kind != KindShell {
			continue
		}
		line, cmd, upgrade := packageCommand(a.Script)
		if cmd == "" {
			continue
		}
		where := a.Name
		if a.File != "" && a.Line > 0 {
			where = fmt.Sprintf("%s at %s:%d", a.Name, a.File, a.Line)
		}
		if a.ScriptPath != "" {
			cmd = fmt.Sprintf("%s:%d: %s", a.ScriptPath, line, cmd)
		} else {
			cmd = fmt.Sprintf("inline line %d: %s", line-1, cmd) // after the shebang the importer adds
		}
		if upgrade {
			return false, fmt.Sprintf("%s upgrades the packages itself (%s); set apt-upgrade: true to run the tool's step as well", where, cmd)
		}
		if update == "" {
			update = fmt.Sprintf("%s refreshes the package lists but does not upgrade (%s)", where, cmd)
		}
	}
	if update != "" {
		return true, update + "; set apt-upgrade: false to skip the tool's step"
	}
	return true, "no provisioner of the template upgrades the packages; set apt-upgrade: false to skip the tool's step"
}

// upgrades are the subcommands that bring every installed package up to date.
var upgrades = map[string][]string{
	"apt-get":  {"upgrade", "dist-upgrade", "full-upgrade"},
	"apt":      {"upgrade", "dist-upgrade", "full-upgrade"},
	"aptitude": {"upgrade", "safe-upgrade", "full-upgrade", "dist-upgrade"},
	"dnf":      {"upgrade", "update", "distro-sync"},
	"yum":      {"upgrade", "update", "distro-sync"},
}

// optionArgs are the options of these tools that take a separate argument.
var optionArgs = map[string]bool{"-o": true, "-c": true, "-t": true, "--option": true, "--config-file": true, "--target-release": true}

// packageCommand finds the first command in a shell script that upgrades
// every package (upgrade true), or else the first that refreshes the
// package lists (apt-get update): its line and the line's text.
// Comments are skipped;
// wrappers such as sudo, env and VAR=value prefixes are seen through.
func packageCommand(script []byte) (line int, cmd string, upgrade bool) {
	var update string
	updateLine := 0
	lines := strings.Split(string(script), "\n")
	for i := 0; i < len(lines); i++ {
		n := i + 1
		text := lines[i]
		// Continuation lines make one command.
		for strings.HasSuffix(strings.TrimRight(text, " \t\r"), `\`) && i+1 < len(lines) {
			text = strings.TrimSuffix(strings.TrimRight(text, " \t\r"), `\`) + " " + lines[i+1]
			i++
		}
		for _, c := range simpleCommands(stripComment(text)) {
			tool, sub := packageSubcommand(c)
			if tool == "" {
				continue
			}
			for _, u := range upgrades[tool] {
				if sub == u {
					return n, strings.TrimSpace(text), true
				}
			}
			if sub == "update" && update == "" {
				update, updateLine = strings.TrimSpace(text), n
			}
		}
	}
	return updateLine, update, false
}

// stripComment cuts a line at a # that starts a word outside quotes.
func stripComment(s string) string {
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || strings.ContainsRune(" \t;&|(", rune(s[i-1]))):
			return s[:i]
		}
	}
	return s
}

// simpleCommands splits a line at ; & | ( ) and ` into the words of
// each command; quotes are dropped from words, which is enough to read a
// command name and its subcommand.
func simpleCommands(s string) [][]string {
	var cmds [][]string
	var words []string
	var word strings.Builder
	var quote rune
	flush := func() {
		if word.Len() > 0 {
			words = append(words, word.String())
			word.Reset()
		}
	}
	end := func() {
		flush()
		if len(words) > 0 {
			cmds = append(cmds, words)
			words = nil
		}
	}
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote = r
		case r == ' ' || r == '\t' || r == '\r':
			flush()
		case strings.ContainsRune(";&|()`", r):
			if r == '(' && strings.HasSuffix(word.String(), "$") {
				// $( starts a command substitution: the $ is no word.
				w := strings.TrimSuffix(word.String(), "$")
				word.Reset()
				word.WriteString(w)
			}
			end()
		default:
			word.WriteRune(r)
		}
	}
	end()
	return cmds
}

// packageSubcommand returns the package tool a command runs and its
// subcommand, seeing through sudo, env, nice, command, exec, nohup, time and
// VAR=value prefixes; "" when the command runs none of them.
func packageSubcommand(words []string) (tool, sub string) {
	i := 0
	for i < len(words) {
		w := words[i]
		switch {
		case isAssignment(w):
			i++
		case w == "sudo" || w == "env" || w == "nice" || w == "command" || w == "exec" || w == "nohup" || w == "time":
			i++
			for i < len(words) && strings.HasPrefix(words[i], "-") {
				i++
			}
		default:
			name := path.Base(w)
			if _, ok := upgrades[name]; !ok {
				return "", ""
			}
			for j := i + 1; j < len(words); j++ {
				a := words[j]
				if optionArgs[a] {
					j++
					continue
				}
				if !strings.HasPrefix(a, "-") {
					return name, a
				}
			}
			return name, ""
		}
	}
	return "", ""
}

func isAssignment(w string) bool {
	k, _, ok := strings.Cut(w, "=")
	if !ok || k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
