package lint

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// script is a shell script and what walking its commands found: findings of
// its own, and the facts the recipe-wide rules (units, ForceCommand) need.
type script struct {
	file string
	at   int // > 0: every finding at this line (inline scripts of a template)

	out []Finding
	// enabled are `systemctl enable` units with the line that enables them.
	enabled []unitRef
	// words are every literal word and here-document body outside systemctl
	// commands, lowercased: what the recipe mentions (packages, unit files).
	words []string
	// forceAdds are lines that add a ForceCommand to sshd's configuration;
	// forceRemoved: the script removes one.
	forceAdds    []int
	forceRemoved bool
	// installsRemoval: the script writes a per-instance script that deals
	// with a ForceCommand (templates often write them inline).
	installsRemoval bool
	perInstance     bool // it is a per-instance script itself

	funcs  map[string]*funcInfo
	parsed *syntax.File
}

type unitRef struct {
	unit string
	line int
}

type funcInfo struct {
	decl   *syntax.FuncDecl
	walked bool
	at     state // the state where it was declared, for a function never called
}

// state is what the shell knows at a point of the script.
type state struct {
	exported map[string]string // exported variables with a literal value
	vars     map[string]string // set, not exported
}

func (s state) clone() state {
	c := state{exported: map[string]string{}, vars: map[string]string{}}
	for k, v := range s.exported {
		c.exported[k] = v
	}
	for k, v := range s.vars {
		c.vars[k] = v
	}
	return c
}

// input says where a command's stdin comes from: nothing (the build's
// closed stdin), a redirection, or a pipe from the program named.
type input struct {
	redirected bool
	pipedFrom  string // program at the pipe's left; "" when not piped
}

func (in input) given() bool { return in.redirected || in.pipedFrom != "" }

// shells are interpreters whose scripts lint parses.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "ksh": true, "mksh": true, "ash": true, "posix": true}

// isShell says whether a script's shebang names a shell (no shebang: the
// template's or the recipe's default, a shell).
func isShell(body []byte) bool {
	if !bytes.HasPrefix(body, []byte("#!")) {
		return true
	}
	line, _, _ := bytes.Cut(body[2:], []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) == 0 {
		return false
	}
	prog := path.Base(f[0])
	if prog == "env" {
		for _, a := range f[1:] {
			if !strings.HasPrefix(a, "-") {
				prog = path.Base(a)
				break
			}
		}
	}
	return shells[prog]
}

// parseScript parses body as a shell script and walks its commands. env is
// the environment the script starts with (a template's environment_vars). A
// script the shell cannot parse gets one "parse" finding at its line.
func parseScript(file string, body []byte, env map[string]string, at int) *script {
	s := &script{file: file, at: at, funcs: map[string]*funcInfo{}}
	// CRLF has a finding of its own; parse the script as the lines it means.
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	f, err := syntax.NewParser(syntax.KeepComments(true), syntax.Variant(syntax.LangBash)).Parse(bytes.NewReader(body), file)
	if err != nil {
		line, msg := 0, err.Error()
		var pe syntax.ParseError
		var le syntax.LangError
		switch {
		case errors.As(err, &pe):
			line, msg = int(pe.Pos.Line()), pe.Text
		case errors.As(err, &le):
			line, msg = int(le.Pos.Line()), le.Error()
		}
		s.add(line, "parse", Error, fmt.Sprintf("the shell cannot parse this script: %s", msg))
		return s
	}
	s.parsed = f
	st := state{exported: map[string]string{}, vars: map[string]string{}}
	for k, v := range env {
		st.exported[k] = v
	}
	s.stmts(f.Stmts, &st, input{})
	// A function never called from the script may still be run (sourced,
	// or by a trap): check it as declared.
	for _, fi := range s.funcs {
		if !fi.walked {
			fi.walked = true
			at := fi.at.clone()
			s.stmt(fi.decl.Body, &at, input{})
		}
	}
	s.collectWords(f)
	return s
}

func (s *script) add(line int, rule, sev, msg string) {
	s.out = append(s.out, s.finding(line, rule, sev, msg))
}

// finding is a finding at line of the script (at the provisioner's line for
// an inline script).
func (s *script) finding(line int, rule, sev, msg string) Finding {
	if s.at > 0 {
		line = s.at
	}
	return Finding{File: s.file, Line: line, Rule: rule, Severity: sev, Message: msg}
}

func (s *script) stmts(list []*syntax.Stmt, st *state, in input) {
	for _, x := range list {
		s.stmt(x, st, in)
	}
}

func (s *script) stmt(x *syntax.Stmt, st *state, in input) {
	if x == nil {
		return
	}
	for _, r := range x.Redirs {
		switch r.Op {
		case syntax.RdrIn, syntax.RdrInOut, syntax.DplIn, syntax.Hdoc, syntax.DashHdoc, syntax.WordHdoc:
			in = input{redirected: true}
		}
		s.substitutions(r.Word, st, in)
		s.substitutions(r.Hdoc, st, in)
	}
	switch c := x.Cmd.(type) {
	case *syntax.CallExpr:
		s.call(x, c, st, in)
	case *syntax.BinaryCmd:
		switch c.Op {
		case syntax.Pipe, syntax.PipeAll:
			s.pipeline(c, st, in)
		default:
			s.stmt(c.X, st, in)
			s.stmt(c.Y, st, in)
		}
	case *syntax.Block:
		s.stmts(c.Stmts, st, in)
	case *syntax.Subshell:
		sub := st.clone()
		s.stmts(c.Stmts, &sub, in)
	case *syntax.IfClause:
		for ; c != nil; c = c.Else {
			s.stmts(c.Cond, st, in)
			s.stmts(c.Then, st, in)
		}
	case *syntax.WhileClause:
		// `while read line` reads data, not a person's answer: only the body
		// may prompt.
		s.stmts(c.Cond, st, input{redirected: true})
		s.stmts(c.Do, st, in)
	case *syntax.ForClause:
		if wi, ok := c.Loop.(*syntax.WordIter); ok {
			for _, w := range wi.Items {
				s.substitutions(w, st, in)
			}
		}
		s.stmts(c.Do, st, in)
	case *syntax.CaseClause:
		s.substitutions(c.Word, st, in)
		for _, item := range c.Items {
			s.stmts(item.Stmts, st, in)
		}
	case *syntax.FuncDecl:
		if c.Name != nil {
			s.funcs[c.Name.Value] = &funcInfo{decl: c, at: st.clone()}
		}
	case *syntax.DeclClause:
		s.declare(c, st, in)
	case *syntax.TimeClause:
		s.stmt(c.Stmt, st, in)
	case *syntax.CoprocClause:
		s.stmt(c.Stmt, st, in)
	case *syntax.TestClause, *syntax.ArithmCmd, *syntax.LetClause:
		syntax.Walk(c, func(n syntax.Node) bool {
			if w, ok := n.(*syntax.Word); ok {
				s.substitutions(w, st, in)
				return false
			}
			return true
		})
	}
}

// pipeline walks a | b | c: each part reads the one before it, in a subshell.
func (s *script) pipeline(c *syntax.BinaryCmd, st *state, in input) {
	var parts []*syntax.Stmt
	var flatten func(x *syntax.Stmt)
	flatten = func(x *syntax.Stmt) {
		if b, ok := x.Cmd.(*syntax.BinaryCmd); ok && (b.Op == syntax.Pipe || b.Op == syntax.PipeAll) && len(x.Redirs) == 0 {
			flatten(b.X)
			flatten(b.Y)
			return
		}
		parts = append(parts, x)
	}
	flatten(c.X)
	flatten(c.Y)
	download := ""
	for i, p := range parts {
		sub := st.clone()
		pin := in
		if i > 0 {
			pin = input{pipedFrom: programOf(parts[i-1])}
		}
		s.stmt(p, &sub, pin)
		prog := programOf(p)
		if download != "" && shells[prog] && readsScriptFromStdin(p) {
			s.add(line(p.Pos()), "curl-pipe-shell", Warning, fmt.Sprintf(
				"%s | %s runs whatever the download returns, unchecked, as root in the image: download to a file, verify its checksum or signature, then run it", download, prog))
		}
		if prog == "curl" || prog == "wget" {
			download = prog
		}
	}
}

// programOf is the program a statement runs (after sudo, env ...), or "".
func programOf(x *syntax.Stmt) string {
	c, ok := x.Cmd.(*syntax.CallExpr)
	if !ok {
		return ""
	}
	cmd := resolve(c)
	return cmd.prog
}

// readsScriptFromStdin: a shell given no script file (or -s) reads its
// script from stdin.
func readsScriptFromStdin(x *syntax.Stmt) bool {
	c, ok := x.Cmd.(*syntax.CallExpr)
	if !ok {
		return false
	}
	cmd := resolve(c)
	for i := 0; i < len(cmd.args); i++ {
		a := cmd.args[i]
		switch {
		case a.text == "-s" || a.text == "-":
			return true
		case a.text == "-c":
			return false
		case a.text == "-o" || a.text == "-O" || a.text == "+O":
			i++ // takes a value
		case strings.HasPrefix(a.text, "-") || strings.HasPrefix(a.text, "+"):
		default:
			return false // a script file
		}
	}
	return true
}

func line(p syntax.Pos) int { return int(p.Line()) }

// declare handles export, declare -x, local, readonly ...
func (s *script) declare(c *syntax.DeclClause, st *state, in input) {
	export := c.Variant.Value == "export"
	for _, a := range c.Args {
		if a.Naked && a.Name == nil { // an option such as -x
			if v, ok := literal(a.Value); ok && strings.HasPrefix(v, "-") && strings.Contains(v, "x") {
				export = true
			}
		}
	}
	for _, a := range c.Args {
		s.substitutions(a.Value, st, in)
		if a.Name == nil {
			continue
		}
		name := a.Name.Value
		switch {
		case a.Naked && export:
			v, set := st.vars[name]
			if !set {
				v = st.exported[name]
			}
			st.exported[name] = v
		case !a.Naked:
			v, _ := literal(a.Value)
			if export {
				st.exported[name] = v
			} else {
				st.vars[name] = v
			}
		}
	}
}

// substitutions walks the commands inside a word: $(...), `...` and <(...)
// run in subshells with the word's stdin.
func (s *script) substitutions(w *syntax.Word, st *state, in input) {
	if w == nil {
		return
	}
	syntax.Walk(w, func(n syntax.Node) bool {
		switch x := n.(type) {
		case *syntax.CmdSubst:
			sub := st.clone()
			s.stmts(x.Stmts, &sub, in)
			return false
		case *syntax.ProcSubst:
			sub := st.clone()
			s.stmts(x.Stmts, &sub, in)
			return false
		}
		return true
	})
}

// arg is one word of a command: its literal text, and whether it is all
// literal (no expansion whose value lint cannot know).
type arg struct {
	text string
	lit  bool
	word *syntax.Word
}

// command is a simple command with its wrappers (sudo, env, ...) taken off.
type command struct {
	prog   string
	args   []arg
	assign map[string]string // VAR=value given on the command (also through env or sudo)
}

// wrappers run the command that follows their options; the value says
// which of their options take a value.
var wrappers = map[string]map[string]bool{
	"sudo":    {"-u": true, "-g": true, "-C": true, "-D": true, "-h": true, "-p": true, "-r": true, "-t": true, "-T": true, "-U": true},
	"env":     {"-u": true, "-C": true, "-S": true},
	"command": {},
	"exec":    {"-a": true},
	"nohup":   {},
	"time":    {"-f": true, "-o": true},
	"nice":    {"-n": true},
	"ionice":  {"-c": true, "-n": true, "-p": true},
	"stdbuf":  {"-i": true, "-o": true, "-e": true},
	"xargs":   {"-a": true, "-d": true, "-E": true, "-I": true, "-L": true, "-n": true, "-P": true, "-s": true},
	"timeout": {"-k": true, "-s": true},
	"chroot":  {},
	"flock":   {"-w": true, "-E": true},
}

// wrapperPositionals are the arguments a wrapper takes before the command.
var wrapperPositionals = map[string]int{"timeout": 1, "chroot": 1, "flock": 1}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func resolve(c *syntax.CallExpr) command {
	cmd := command{assign: map[string]string{}}
	for _, a := range c.Assigns {
		if a.Name != nil {
			v, _ := literal(a.Value)
			cmd.assign[a.Name.Value] = v
		}
	}
	words := make([]arg, len(c.Args))
	for i, w := range c.Args {
		t, ok := literal(w)
		words[i] = arg{text: t, lit: ok, word: w}
	}
	for len(words) > 0 {
		w := words[0]
		if !w.lit {
			return cmd // the program itself is an expansion
		}
		name := path.Base(w.text)
		opts, isWrapper := wrappers[name]
		if !isWrapper {
			cmd.prog, cmd.args = name, words[1:]
			return cmd
		}
		words = words[1:]
		positionals := wrapperPositionals[name]
		for len(words) > 0 {
			t := words[0].text
			switch {
			case t == "--":
				words = words[1:]
			case strings.HasPrefix(t, "-") && len(t) > 1:
				words = words[1:]
				if opts[t] && len(words) > 0 {
					words = words[1:]
				}
				continue
			case (name == "env" || name == "sudo") && assignment.MatchString(t):
				k, v, _ := strings.Cut(t, "=")
				cmd.assign[k] = v
				words = words[1:]
				continue
			case positionals > 0:
				positionals--
				words = words[1:]
				continue
			}
			break
		}
	}
	return cmd
}

// literal is the text of w with quotes removed, and whether it is all
// literal; expansions read as "$".
func literal(w *syntax.Word) (string, bool) {
	if w == nil {
		return "", true
	}
	var b strings.Builder
	ok := true
	var parts func(ps []syntax.WordPart, quoted bool)
	parts = func(ps []syntax.WordPart, quoted bool) {
		for _, p := range ps {
			switch x := p.(type) {
			case *syntax.Lit:
				b.WriteString(unescape(x.Value, quoted))
			case *syntax.SglQuoted:
				b.WriteString(x.Value)
			case *syntax.DblQuoted:
				parts(x.Parts, true)
			default:
				b.WriteString("$")
				ok = false
			}
		}
	}
	parts(w.Parts, false)
	return b.String(), ok
}

// unescape removes the shell's backslashes: all of them outside quotes,
// those before $ ` " \ inside double quotes.
func unescape(s string, quoted bool) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (!quoted || strings.IndexByte("$`\"\\", s[i+1]) >= 0) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// call checks one simple command.
func (s *script) call(x *syntax.Stmt, c *syntax.CallExpr, st *state, in input) {
	for _, a := range c.Assigns {
		s.substitutions(a.Value, st, in)
	}
	for _, w := range c.Args {
		s.substitutions(w, st, in)
	}
	if len(c.Args) == 0 { // VAR=value: a shell variable, or an exported one's new value
		for _, a := range c.Assigns {
			if a.Name == nil {
				continue
			}
			v, _ := literal(a.Value)
			if _, ok := st.exported[a.Name.Value]; ok {
				st.exported[a.Name.Value] = v
			} else {
				st.vars[a.Name.Value] = v
			}
		}
		return
	}
	cmd := resolve(c)
	ln := line(x.Pos())
	if fi, ok := s.funcs[cmd.prog]; ok && !fi.walked {
		// A function is checked where it is first called, with what the
		// script has set and exported by then.
		fi.walked = true
		s.stmt(fi.decl.Body, st, in)
	}
	frontend := st.exported["DEBIAN_FRONTEND"]
	if v, ok := cmd.assign["DEBIAN_FRONTEND"]; ok {
		frontend = v
	}
	nonInteractive := frontend == "noninteractive"
	s.writes(x, cmd, ln)
	switch cmd.prog {
	case "apt", "apt-get", "aptitude":
		s.apt(cmd, ln, nonInteractive, in)
	case "add-apt-repository":
		if !hasYes(cmd.args) && in.pipedFrom != "yes" {
			s.add(ln, "apt-yes", Error, "add-apt-repository without -y waits for Enter: add -y")
		}
	case "read":
		if !in.given() && !hasOption(cmd.args, "-u") {
			s.add(ln, "read-prompt", Error, "read waits for input, but the build has no terminal and stdin is closed: take the value from the environment (env input) instead")
		}
	case "ufw":
		if sub, _ := subcommand(cmd.args, nil); sub == "enable" && !hasOption(cmd.args, "--force") && !answered(in) {
			s.add(ln, "ufw-force", Error, "ufw enable asks for confirmation: use ufw --force enable")
		}
	case "dpkg-reconfigure":
		if !nonInteractive && !frontendFlag(cmd.args) {
			s.add(ln, "debconf-frontend", Warning, "dpkg-reconfigure opens a dialog: use dpkg-reconfigure -f noninteractive (or DEBIAN_FRONTEND=noninteractive)")
		}
	case "systemctl":
		s.systemctl(cmd, ln)
	case "sh", "bash", "dash", "ksh":
		s.shellString(cmd, ln, st, in)
	}
}

// aptValueOptions take the next word as their value.
var aptValueOptions = map[string]bool{"-o": true, "--option": true, "-c": true, "--config-file": true, "-t": true,
	"--target-release": true, "--default-release": true, "-a": true, "--host-architecture": true}

var aptNeedsYes = map[string]bool{"install": true, "upgrade": true, "full-upgrade": true, "dist-upgrade": true, "remove": true, "purge": true, "autoremove": true, "reinstall": true, "autopurge": true, "build-dep": true, "satisfy": true}
var aptPrompts = map[string]bool{"install": true, "upgrade": true, "full-upgrade": true, "dist-upgrade": true, "reinstall": true, "build-dep": true, "satisfy": true}

func (s *script) apt(cmd command, ln int, nonInteractive bool, in input) {
	sub, known := subcommand(cmd.args, aptValueOptions)
	if !known || !aptNeedsYes[sub] {
		return
	}
	if !hasYes(cmd.args) && in.pipedFrom != "yes" {
		s.add(ln, "apt-yes", Error, fmt.Sprintf("%s %s without -y waits for a confirmation the build cannot give: add -y", cmd.prog, sub))
	} else if aptPrompts[sub] && !nonInteractive {
		s.add(ln, "apt-frontend", Warning, fmt.Sprintf("%s %s can still stop at debconf or conffile prompts: set DEBIAN_FRONTEND=noninteractive (and -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)", cmd.prog, sub))
	}
}

// subcommand is the first argument that is not an option (nor an option's
// value); known is false when an expansion stands before it.
func subcommand(args []arg, valueOptions map[string]bool) (string, bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !a.lit {
			return "", false
		}
		if strings.HasPrefix(a.text, "-") {
			if valueOptions[a.text] {
				i++
			}
			continue
		}
		return a.text, true
	}
	return "", true
}

func hasYes(args []arg) bool {
	for i, a := range args {
		t := a.text
		switch {
		case t == "--yes" || t == "--assume-yes" || t == "--force-yes":
			return true
		case (t == "-o" || t == "--option") && i+1 < len(args) && strings.EqualFold(args[i+1].text, "APT::Get::Assume-Yes=true"):
			return true
		case strings.HasPrefix(strings.ToLower(t), "--option=apt::get::assume-yes=true") || strings.EqualFold(t, "-oAPT::Get::Assume-Yes=true"):
			return true
		case strings.HasPrefix(t, "-") && !strings.HasPrefix(t, "--") && !strings.HasPrefix(t, "-o") && strings.Contains(t, "y"):
			return true
		}
	}
	return false
}

func hasOption(args []arg, opt string) bool {
	for _, a := range args {
		if a.text == opt || strings.HasPrefix(a.text, opt+"=") {
			return true
		}
		if len(opt) == 2 && opt[0] == '-' && strings.HasPrefix(a.text, "-") && !strings.HasPrefix(a.text, "--") && strings.Contains(a.text[1:], opt[1:]) {
			return true
		}
	}
	return false
}

// answered: a confirmation fed from a pipe (yes | ..., echo y | ...).
func answered(in input) bool {
	return in.pipedFrom == "yes" || in.pipedFrom == "echo" || in.pipedFrom == "printf"
}

func frontendFlag(args []arg) bool {
	for i, a := range args {
		switch {
		case a.text == "-fnoninteractive" || a.text == "--frontend=noninteractive":
			return true
		case (a.text == "-f" || a.text == "--frontend") && i+1 < len(args) && args[i+1].text == "noninteractive":
			return true
		}
	}
	return false
}

// shellString checks the script of sh -c '...' as a script of its own, and
// sh -c "$(curl ...)" or bash <(curl ...) as a download run unchecked.
func (s *script) shellString(cmd command, ln int, st *state, in input) {
	for i, a := range cmd.args {
		if fetchesInto(a.word) != "" {
			s.add(ln, "curl-pipe-shell", Warning, fmt.Sprintf(
				"%s runs whatever %s returns, unchecked, as root in the image: download to a file, verify its checksum or signature, then run it", cmd.prog, fetchesInto(a.word)))
			return
		}
		if a.text == "-c" && i+1 < len(cmd.args) && cmd.args[i+1].lit {
			inner := parseScript(s.file, []byte(cmd.args[i+1].text), st.exported, s.at)
			for _, f := range inner.out {
				if s.at == 0 {
					// Lines inside the string count from the word's first line.
					f.Line += line(cmd.args[i+1].word.Pos()) - 1
				}
				s.out = append(s.out, f)
			}
			s.enabled = append(s.enabled, inner.enabled...)
			s.forceAdds = append(s.forceAdds, inner.forceAdds...)
			s.forceRemoved = s.forceRemoved || inner.forceRemoved
			return
		}
	}
}

// fetchesInto is "curl" or "wget" when w is $(curl ...) or <(curl ...).
func fetchesInto(w *syntax.Word) string {
	if w == nil {
		return ""
	}
	found := ""
	syntax.Walk(w, func(n syntax.Node) bool {
		var list []*syntax.Stmt
		switch x := n.(type) {
		case *syntax.CmdSubst:
			list = x.Stmts
		case *syntax.ProcSubst:
			list = x.Stmts
		default:
			return found == ""
		}
		for _, st := range list {
			syntax.Walk(st, func(n syntax.Node) bool {
				if c, ok := n.(*syntax.CallExpr); ok {
					if p := resolve(c).prog; p == "curl" || p == "wget" {
						found = p
					}
				}
				return found == ""
			})
		}
		return false
	})
	return found
}

// systemctlOptions take the next word as their value.
var systemctlOptions = map[string]bool{"-H": true, "--host": true, "-M": true, "--machine": true, "--root": true, "-t": true, "--type": true, "-p": true, "--property": true, "-s": true, "--signal": true}

func (s *script) systemctl(cmd command, ln int) {
	sub, known := subcommand(cmd.args, systemctlOptions)
	if !known || sub != "enable" {
		return
	}
	seen := false
	for i := 0; i < len(cmd.args); i++ {
		a := cmd.args[i]
		switch {
		case !seen:
			seen = a.text == "enable"
			if systemctlOptions[a.text] {
				i++
			}
		case strings.HasPrefix(a.text, "-"):
			if systemctlOptions[a.text] {
				i++
			}
		case a.lit && !strings.Contains(a.text, "/"):
			s.enabled = append(s.enabled, unitRef{unit: a.text, line: ln})
		}
	}
}

// critical files a script overwrites: cp/mv/install/tee/curl -o onto them,
// or a > redirection.
func (s *script) writes(x *syntax.Stmt, cmd command, ln int) {
	var targets []string
	for _, r := range x.Redirs {
		switch r.Op {
		case syntax.RdrOut, syntax.RdrClob, syntax.RdrAll:
			if t, ok := literal(r.Word); ok {
				targets = append(targets, t)
			}
		}
	}
	var positional []string
	for _, a := range cmd.args {
		if a.lit && !strings.HasPrefix(a.text, "-") {
			positional = append(positional, a.text)
		}
	}
	switch cmd.prog {
	case "cp", "mv", "install", "rsync":
		if len(positional) >= 2 {
			targets = append(targets, positional[len(positional)-1])
		}
	case "tee":
		if !hasOption(cmd.args, "-a") && !hasOption(cmd.args, "--append") {
			targets = append(targets, positional...)
		}
	case "curl", "wget":
		for i, a := range cmd.args {
			if (a.text == "-o" || a.text == "--output" || a.text == "-O" || a.text == "--output-document") && i+1 < len(cmd.args) && cmd.args[i+1].lit {
				targets = append(targets, cmd.args[i+1].text)
			}
		}
	}
	for _, t := range targets {
		if c, ok := critical[path.Clean(t)]; ok && path.IsAbs(t) {
			s.add(ln, "critical-file", c.sev, fmt.Sprintf("replaces %s wholesale: %s", path.Clean(t), c.fix))
		}
	}
	s.forceCommand(x, cmd, ln, targets)
}

// forceCommand notes a command that adds a ForceCommand to sshd's
// configuration (writes text holding one under /etc/ssh), or removes one
// (sed -i deleting it, rm of a drop-in, or a file written over without it).
func (s *script) forceCommand(x *syntax.Stmt, cmd command, ln int, targets []string) {
	for _, t := range targets {
		if path.Dir(path.Clean(t)) == perInstanceDir && writesText(x, cmd, "ForceCommand") {
			s.installsRemoval = true
		}
	}
	sshd := func(p string) bool { return strings.HasPrefix(path.Clean(p), "/etc/ssh/") }
	var written []string // files under /etc/ssh the command writes
	appends := false
	for _, t := range targets {
		if sshd(t) {
			written = append(written, t)
		}
	}
	for _, r := range x.Redirs {
		if t, ok := literal(r.Word); ok && sshd(t) && (r.Op == syntax.AppOut || r.Op == syntax.AppAll) {
			written, appends = append(written, t), true
		}
	}
	if cmd.prog == "tee" && hasOption(cmd.args, "-a") {
		for _, a := range cmd.args {
			if a.lit && sshd(a.text) {
				written, appends = append(written, a.text), true
			}
		}
	}
	onSSHD := false
	mentions := false
	for _, a := range cmd.args {
		onSSHD = onSSHD || (a.lit && sshd(a.text))
		mentions = mentions || strings.Contains(a.text, "ForceCommand")
	}
	switch {
	case (cmd.prog == "sed" || cmd.prog == "perl") && onSSHD && mentions && (hasOption(cmd.args, "-i") || hasOption(cmd.args, "--in-place")):
		if sedAdds(cmd.args) {
			s.forceAdds = append(s.forceAdds, ln)
		} else {
			s.forceRemoved = true
		}
		return
	case cmd.prog == "rm" && onSSHD:
		s.forceRemoved = true
		return
	case len(written) == 0:
		return
	}
	content := mentions
	for _, r := range x.Redirs {
		if r.Hdoc != nil && hasForceCommandLine(hdocText(r.Hdoc)) {
			content = true
		}
	}
	switch {
	case content:
		s.forceAdds = append(s.forceAdds, ln)
	case !appends:
		s.forceRemoved = true // written over with something else
	}
}

// sedAdds: a sed script that appends or inserts (a, i, s///) rather than deletes.
func sedAdds(args []arg) bool {
	for _, a := range args {
		if strings.Contains(a.text, "ForceCommand") {
			t := strings.TrimSpace(a.text)
			return !strings.HasSuffix(t, "d") && !strings.HasSuffix(t, "d;")
		}
	}
	return false
}

// writesText: the command's arguments or here-document hold text.
func writesText(x *syntax.Stmt, cmd command, text string) bool {
	for _, a := range cmd.args {
		if strings.Contains(a.text, text) {
			return true
		}
	}
	for _, r := range x.Redirs {
		if r.Hdoc != nil && strings.Contains(hdocText(r.Hdoc), text) {
			return true
		}
	}
	return false
}

func hdocText(w *syntax.Word) string {
	t, _ := literal(w)
	return t
}

var forceCommandLine = regexp.MustCompile(`(?mi)^[ \t]*ForceCommand[ \t]`)

func hasForceCommandLine(s string) bool { return forceCommandLine.MatchString(s) }

// collectWords keeps what the script mentions, outside systemctl commands.
func (s *script) collectWords(f *syntax.File) {
	syntax.Walk(f, func(n syntax.Node) bool {
		switch x := n.(type) {
		case *syntax.CallExpr:
			if resolve(x).prog == "systemctl" {
				return false
			}
		case *syntax.Word:
			if t, _ := literal(x); t != "" {
				s.words = append(s.words, strings.ToLower(t))
			}
		}
		return true
	})
}

// secrets reports literal credentials in the script's words, here-documents
// and comments (a key in a comment is committed all the same; a password
// rule there would only flag documentation).
func (s *script) secrets(body []byte) {
	if s.parsed == nil {
		s.out = append(s.out, checkSecrets(s.file, body, s.at)...)
		return
	}
	src := string(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")))
	type segment struct {
		text      string
		line      int
		passwords bool
	}
	var segs []segment
	raw := func(n syntax.Node) string {
		a, b := int(n.Pos().Offset()), int(n.End().Offset())
		if a < 0 || b > len(src) || a > b {
			return ""
		}
		return src[a:b]
	}
	syntax.Walk(s.parsed, func(n syntax.Node) bool {
		switch x := n.(type) {
		case *syntax.Comment:
			segs = append(segs, segment{x.Text, line(x.Pos()), false})
		case *syntax.Assign:
			if x.Name != nil && x.Value != nil {
				segs = append(segs, segment{raw(x.Name) + "=" + raw(x.Value), line(x.Pos()), true})
				return false
			}
		case *syntax.Word:
			segs = append(segs, segment{raw(x), line(x.Pos()), true})
			return false
		}
		return true
	})
	seen := map[int]bool{}
	for _, g := range segs {
		for i, l := range strings.Split(g.text, "\n") {
			n := g.line + i
			if seen[n] {
				continue
			}
			for _, p := range secretPatterns {
				if (p.password && !g.passwords) || !p.re.MatchString(l) {
					continue
				}
				seen[n] = true
				s.add(n, "secret", Error, secretMessage(p.what))
				break
			}
		}
	}
}
