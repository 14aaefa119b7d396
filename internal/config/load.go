package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/errlist"
)

// Load builds a Config from defaults, environment and command-line flags.
// Precedence, highest first: flags, INPUT_<NAME> (hyphen kept, then the
// underscore spelling), PLUGIN_<NAME>, the option's env aliases, the default.
// An empty environment value counts as unset, because a GitHub runner passes
// every declared input, empty ones included. getenv is injected so tests and
// callers never depend on the process environment. It returns the positional
// arguments left after the flags. -h/--help gives flag.ErrHelp.
func Load(args []string, getenv func(string) string) (*Config, []string, error) {
	return load(Options(), args, getenv)
}

// load reads opts alone: the build's table, or a subcommand's (LoadCommand).
func load(opts []Option, args []string, getenv func(string) string) (*Config, []string, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	c := &Config{Given: map[string]bool{}}
	var errs []error
	for _, o := range opts {
		if err := o.Set(c, o.Default); err != nil {
			// A bad default is a bug in the table, not in the user's input.
			panic(fmt.Sprintf("config: default of %s: %v", o.Name, err))
		}
		name, v := envValue(o, getenv)
		if name == "" {
			continue
		}
		c.explicit(o.Name)
		if err := o.Set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s (from %s): %w", o.Name, name, unwrapName(err, o.Name)))
		}
		c.Given[o.Name] = true
	}

	fs := flag.NewFlagSet("mp-image", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the caller prints Usage and the error itself
	for _, o := range opts {
		fs.Var(&flagValue{opt: o, cfg: c}, o.Flag(), o.Help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		errs = append(errs, fmt.Errorf("%w (run with --help for the list of options)", err))
	}
	if len(errs) > 0 {
		return nil, nil, errlist.Join(errs...)
	}
	fs.Visit(func(f *flag.Flag) { c.Given[f.Name] = true })
	return c, fs.Args(), nil
}

// envValue returns the name and value of the highest-precedence non-empty
// environment variable for o, or "" when none is set.
//
// A GitHub runner passes every input's action.yml default as INPUT_*, so an
// INPUT_ value equal to the default is treated as unset too: otherwise the
// default would hide DIGITALOCEAN_API_URL and the other aliases a workflow sets
// in env:, which Packer users expect to work.
func envValue(o Option, getenv func(string) string) (string, string) {
	inputs := map[string]bool{o.InputEnv(): true, o.InputEnvUnderscore(): true}
	for _, name := range o.EnvNames() {
		v := getenv(name)
		if strings.TrimSpace(v) == "" || inputs[name] && len(o.Env) > 0 && strings.TrimSpace(v) == o.Default {
			continue
		}
		return name, v
	}
	return "", ""
}

// unwrapName drops the "name: " prefix Set adds, so messages name the option once.
func unwrapName(err error, name string) error {
	if err == nil {
		return nil
	}
	if s, ok := strings.CutPrefix(err.Error(), name+": "); ok {
		return errors.New(s)
	}
	return err
}

// flagValue feeds one flag into the Config through the option's setter.
// Repeating a list or map flag adds to it; the first use replaces what the
// environment or the default gave.
type flagValue struct {
	opt  Option
	cfg  *Config
	seen []string
}

func (f *flagValue) String() string {
	if f == nil || f.cfg == nil {
		return ""
	}
	return strings.Join(f.seen, ",")
}

func (f *flagValue) Set(v string) error {
	f.cfg.explicit(f.opt.Name)
	switch f.opt.Kind {
	case KindList, KindLines:
		f.seen = append(f.seen, v)
		return unwrapName(f.opt.Set(f.cfg, strings.Join(f.seen, "\n")), f.opt.Name)
	case KindMap:
		// Each flag is one entry, so a value may hold commas.
		if len(f.seen) == 0 {
			_ = f.opt.Set(f.cfg, "") // the first flag replaces env and default
		}
		f.seen = append(f.seen, v)
		return f.opt.add(f.cfg, v)
	}
	f.seen = []string{v}
	return unwrapName(f.opt.Set(f.cfg, v), f.opt.Name)
}

// IsBoolFlag lets --keep-droplet stand alone without =true.
func (f *flagValue) IsBoolFlag() bool { return f.opt.Kind == KindBool }

// Usage writes --help: every option with its flag, environment names, default and help.
func Usage(w io.Writer) { usage(w, "build", "", Options()) }

func usage(w io.Writer, cmd, about string, opts []Option) {
	fmt.Fprintf(w, "Usage: mp-image %s [options]\n", cmd)
	if about != "" {
		fmt.Fprintln(w, about)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every option is also read from the environment, highest precedence first:")
	fmt.Fprintln(w, "flag, INPUT_<NAME> (GitHub Actions), PLUGIN_<NAME> (Woodpecker/Drone), the listed aliases.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Options:")
	for _, o := range opts {
		arg := " " + strings.ToUpper(string(o.Kind))
		if o.Kind == KindBool {
			arg = ""
		}
		fmt.Fprintf(w, "  --%s%s\n", o.Flag(), arg)
		fmt.Fprintf(w, "        %s\n", o.Help)
		if d := formatDefault(o); d != "" && !o.Secret {
			fmt.Fprintf(w, "        default: %s\n", d)
		}
		fmt.Fprintf(w, "        env: %s\n", strings.Join(o.EnvNames(), ", "))
	}
}

func (c *Config) explicit(name string) {
	if c.Explicit == nil {
		c.Explicit = map[string]bool{}
	}
	c.Explicit[name] = true
}
