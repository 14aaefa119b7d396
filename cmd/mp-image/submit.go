package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/vendorapi"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runSubmit sends a snapshot to the Vendor Portal as an update of an app.
// A flag left out is sent as null (the listing keeps its value); a flag
// given as "" overwrites the value with nothing.
func runSubmit(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	appID := fs.String("app-id", "", "Vendor Portal app ID (from the app's URL in the portal); required")
	imageID := fs.Int("image-id", 0, "snapshot image ID to submit (the build's snapshot-id); required")
	version := fs.String("version", "", "version of the update")
	reason := fs.String("reason", "", "reason for the update, shown to reviewers")
	osVersion := fs.String("os-version", "", "OS version of the image, for example 24.04")
	var software stringList
	fs.Var(&software, "software", "included software as name[=version][;website=URL;notes=URL;license=TYPE;licenseLink=URL];\n"+
		"repeat it or separate items with commas; replaces the whole list (--software '' clears it)")
	// The token is resolved after parsing so --help never prints it as a default.
	api := addAPIFlags(fs)
	// flag prints the parse error itself; help goes to stdout, once.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: mp-image submit --app-id ID --image-id N [--version V] [--reason TEXT] [--os-version V] [--software name=version]...")
			fmt.Fprintln(stdout, "Submits a snapshot to the Vendor Portal as an app update and prints the app's resulting status.")
			fmt.Fprintln(stdout, "A flag left out keeps the listing's value; a flag given as '' clears it.")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintln(stderr, "mp-image: submit: run mp-image submit --help for the options")
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mp-image: submit: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q (all inputs are flags; see mp-image submit --help)", fs.Arg(0))
	}
	if strings.TrimSpace(*appID) == "" {
		return usageErr("--app-id is required: the ID in the app's Vendor Portal URL")
	}
	if *imageID <= 0 {
		return usageErr("--image-id is required: the snapshot ID a build_image run printed")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	u := vendorapi.Update{ImageID: *imageID}
	if set["version"] {
		u.Version = version
	}
	if set["reason"] {
		u.ReasonForUpdate = reason
	}
	if set["os-version"] {
		u.OSVersion = osVersion
	}
	if set["software"] {
		sw, err := vendorapi.ParseSoftware(software)
		if err != nil {
			return usageErr("--software: %v", err)
		}
		if sw == nil {
			sw = []vendorapi.Software{}
		}
		u.SoftwareIncluded = &sw
	}

	tok, base := api.resolve(env)
	if tok == "" {
		return usageErr("no API token: set DIGITALOCEAN_TOKEN (or pass --token) to a token of the team that owns the app")
	}

	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "mp-image: "+format+"\n", a...) }
	app, err := vendorapi.New(base, tok, vendorapi.WithLogf(logf), vendorapi.WithUserAgent("mp-image")).UpdateApp(ctx, *appID, u)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "mp-image: submit: cancelled by signal; the update may or may not have reached the portal: check the app there before submitting again")
			return exitCancelled
		}
		fmt.Fprintf(stderr, "mp-image: submit: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "app: %s", app.ID)
	if app.Name != "" {
		fmt.Fprintf(stdout, " (%s)", app.Name)
	}
	fmt.Fprintf(stdout, "\nimage: %d\n", app.ImageID)
	if app.Version != "" {
		fmt.Fprintf(stdout, "version: %s\n", app.Version)
	}
	fmt.Fprintf(stdout, "status: %s\n", app.State)
	return exitOK
}
