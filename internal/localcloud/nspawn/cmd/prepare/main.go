//go:build linux

// Command prepare builds the local cloud's base images once, so CI and tests
// find them cached: go run ./internal/localcloud/nspawn/cmd/prepare [slug...].
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/mp-image-action/mp-image-action/internal/localcloud/nspawn"
)

func main() {
	cache := flag.String("cache-dir", "", "base image cache (default $MP_IMAGE_CACHE or /var/cache/mp-image)")
	mirror := flag.String("mirror", "", "Debian mirror (default $MP_IMAGE_MIRROR or http://deb.debian.org/debian)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: prepare [flags] [slug ...]   (default slug: debian-12-x64)\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	slugs := flag.Args()
	if len(slugs) == 0 {
		slugs = []string{"debian-12-x64"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *cache, *mirror, slugs); err != nil {
		log.Fatalf("prepare: %v", err)
	}
}

func run(ctx context.Context, cache, mirror string, slugs []string) error {
	b, err := nspawn.New(ctx, nspawn.Options{CacheDir: cache, Mirror: mirror, Logf: log.Printf})
	if err != nil {
		return err
	}
	defer func() {
		if err := b.Close(context.WithoutCancel(ctx)); err != nil {
			log.Printf("prepare: %v", err)
		}
	}()
	for _, s := range slugs {
		if err := b.EnsureBaseImage(ctx, s); err != nil {
			return err
		}
		log.Printf("prepare: %s ready", s)
	}
	return nil
}
