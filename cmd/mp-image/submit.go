package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/vendorapi"
)

// runSubmit sends a snapshot to the Vendor Portal as an update of an app.
// A flag left out is sent as null (the listing keeps its value); a flag
// given as "" overwrites the value with nothing.
func runSubmit(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	o, code, ok := loadCommand("submit", args, env, stdout, stderr)
	if !ok {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mp-image: submit: "+format+"\n", a...)
		return exitUsage
	}
	if strings.TrimSpace(o.Sub.AppID) == "" {
		return usageErr("--app-id is required: the ID in the app's Vendor Portal URL")
	}
	if o.Sub.ImageID <= 0 {
		return usageErr("--image-id is required: the snapshot ID a build_image run printed")
	}
	set := o.Given
	u := vendorapi.Update{ImageID: o.Sub.ImageID}
	if set["version"] {
		u.Version = &o.Sub.Version
	}
	if set["reason"] {
		u.ReasonForUpdate = &o.Sub.Reason
	}
	if set["os-version"] {
		u.OSVersion = &o.Sub.OSVersion
	}
	if set["software"] {
		sw, err := vendorapi.ParseSoftware(o.Sub.Software)
		if err != nil {
			return usageErr("--software: %v", err)
		}
		if sw == nil {
			sw = []vendorapi.Software{}
		}
		u.SoftwareIncluded = &sw
	}

	tok, base := o.Token, o.APIURL
	if tok == "" {
		return usageErr("no API token: set DIGITALOCEAN_TOKEN (or pass --token) to a token of the team that owns the app")
	}

	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "mp-image: "+format+"\n", a...) }
	app, err := vendorapi.New(base, tok, vendorapi.WithLogf(logf), vendorapi.WithUserAgent("mp-image")).UpdateApp(ctx, o.Sub.AppID, u)
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
