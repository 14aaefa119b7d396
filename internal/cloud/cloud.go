// Package cloud is the build's view of DigitalOcean: keys, droplets, actions,
// snapshots and transfers through godo, with retries that never duplicate a
// resource and waits that honour the context and the rate-limit budget.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// DefaultAPIURL is DigitalOcean's API.
const DefaultAPIURL = "https://api.digitalocean.com/"

// Options configure a Client.
type Options struct {
	Token          string
	APIURL         string // default DefaultAPIURL
	UserAgent      string
	Logf           func(format string, args ...any)
	AttemptTimeout time.Duration // one HTTP attempt; default 60s
	MinBackoff     time.Duration
	// Expected durations are hints for the waits (see Poll): a wrong one
	// costs a request, never a late notice. Zero values use DigitalOcean's
	// usual timings.
	ExpectActive, ExpectShutdown, ExpectSnapshot, ExpectTransfer time.Duration
	// PollTick is the shortest interval between two looks and the bound on
	// noticing a short wait's end (default DefaultFloor); tests shrink it.
	PollTick time.Duration
	// FixedPoll polls at this fixed interval instead of the adaptive
	// schedule (Packer's 3 s, for comparison); 0: adaptive.
	FixedPoll time.Duration
	// Clock times the waits; nil is the real clock (tests simulate one).
	Clock Clock
	// Timing, when set, records every request and poll wait as API time.
	Timing *timing.Recorder
}

// Client is a DigitalOcean API client shaped by what a build needs.
type Client struct {
	godo *godo.Client
	tr   *Transport
	o    Options

	mu   sync.Mutex
	boot time.Duration // how long the last droplet took to become active; 0: none yet
}

// New returns a client; it makes no request.
func New(o Options) (*Client, error) {
	if o.Token == "" {
		return nil, errors.New("no API token: set --token or DIGITALOCEAN_TOKEN")
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(o.APIURL, "/") {
		o.APIURL += "/"
	}
	u, err := url.Parse(o.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("API URL %q is not an http(s) URL: set --api-url like https://api.digitalocean.com/", o.APIURL)
	}
	if o.ExpectActive == 0 {
		o.ExpectActive = 30 * time.Second
	}
	if o.ExpectShutdown == 0 {
		o.ExpectShutdown = 10 * time.Second
	}
	if o.ExpectSnapshot == 0 {
		o.ExpectSnapshot = 3 * time.Minute
	}
	if o.ExpectTransfer == 0 {
		o.ExpectTransfer = 5 * time.Minute
	}
	tr := &Transport{Logf: o.Logf, AttemptTimeout: o.AttemptTimeout, MinBackoff: o.MinBackoff, Timing: o.Timing}
	hc := &http.Client{Transport: &authTransport{token: o.Token, next: tr}}
	ua := o.UserAgent
	if ua == "" {
		ua = "mp-image-action"
	}
	g, err := godo.New(hc, godo.SetBaseURL(o.APIURL), godo.SetUserAgent(ua))
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	return &Client{godo: g, tr: tr, o: o}, nil
}

// authTransport adds the bearer token; keeping it out of godo's oauth2 path
// keeps the token in one place that never logs.
type authTransport struct {
	token string
	next  http.RoundTripper
}

func (a *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+a.token)
	return a.next.RoundTrip(req)
}

// Stats reports the requests made so far and the rate-limit budget.
func (c *Client) Stats() Stats { return c.tr.Stats() }

// Pause is the client's 429 pause, for another client of the same API under
// the same token (the Vendor Portal submit) to share.
func (c *Client) Pause() *Pause { return c.tr.pause() }

// Godo exposes the underlying client for rare calls (reap, submit).
func (c *Client) Godo() *godo.Client { return c.godo }

func (c *Client) logf(format string, args ...any) {
	if c.o.Logf != nil {
		c.o.Logf(format, args...)
	}
}

// poll is a wait whose change usually comes after expect (0: no hint).
func (c *Client) poll(expect time.Duration) Poll {
	return Poll{Expect: expect, Floor: c.o.PollTick, Fixed: c.o.FixedPoll, Pace: c.tr.Pace, Rec: c.o.Timing, Clock: c.o.Clock}
}

func (c *Client) clock() Clock {
	if c.o.Clock == nil {
		return realClock{}
	}
	return c.o.Clock
}

// pollNow is a wait whose change has probably happened already: the first
// look is at once.
func (c *Client) pollNow() Poll {
	p := c.poll(0)
	p.AtOnce = true
	return p
}

// APIError wraps a non-2xx answer with the API's message and what to do.
type APIError struct {
	Op      string
	Status  int
	Message string
	Hint    string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: %s (HTTP %d)", e.Op, e.Message, e.Status)
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// wrap turns godo errors into errors that say what failed and what to do.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var er *godo.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		ae := &APIError{Op: op, Status: er.Response.StatusCode, Message: er.Message}
		switch ae.Status {
		case http.StatusUnauthorized:
			ae.Hint = "the API token was rejected; check that it is valid and has write scope"
		case http.StatusForbidden:
			ae.Hint = "the token lacks permission for this; use a token with write scope"
		case http.StatusTooManyRequests:
			ae.Hint = "rate limit reached; wait for the budget to reset"
		}
		return ae
	}
	return fmt.Errorf("%s: %w", op, err)
}

// StatusOf returns the HTTP status of an API error, or 0.
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	var er *godo.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	var te *TransientError
	if errors.As(err, &te) {
		return te.Status
	}
	return 0
}

func isNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

func isTransient(err error) bool {
	var te *TransientError
	return errors.As(err, &te)
}

// CheckAccount verifies the token before anything is created.
func (c *Client) CheckAccount(ctx context.Context) (*godo.Account, error) {
	acct, _, err := c.godo.Account.Get(ctx)
	if err != nil {
		return nil, wrap("checking the API token", err)
	}
	if acct.Status != "" && acct.Status != "active" {
		return acct, fmt.Errorf("account status is %q: %s", acct.Status, acct.StatusMessage)
	}
	return acct, nil
}

// CheckPlacement verifies region, size, image and the regions the snapshot
// will be copied to before creating a droplet, so bad input fails with a
// clear message and nothing is created.
func (c *Client) CheckPlacement(ctx context.Context, region, size, image string, snapshotRegions []string) (*godo.Image, *godo.Size, error) {
	var problems []string
	regions, _, err := c.godo.Regions.List(ctx, &godo.ListOptions{PerPage: 200})
	if err != nil {
		return nil, nil, wrap("listing regions", err)
	}
	var reg *godo.Region
	for i := range regions {
		if regions[i].Slug == region {
			reg = &regions[i]
		}
	}
	if reg == nil {
		problems = append(problems, fmt.Sprintf("unknown region %q: use one of %s", region, slugsOfRegions(regions)))
	} else if !reg.Available {
		problems = append(problems, fmt.Sprintf("region %q does not take new droplets now: pick another region", region))
	}
	for _, r := range snapshotRegions {
		if !slices.ContainsFunc(regions, func(g godo.Region) bool { return g.Slug == r }) {
			problems = append(problems, fmt.Sprintf("snapshot-regions: unknown region %q: use one of %s", r, slugsOfRegions(regions)))
		}
	}
	sizes, _, err := c.godo.Sizes.List(ctx, &godo.ListOptions{PerPage: 200})
	if err != nil {
		return nil, nil, wrap("listing sizes", err)
	}
	var sz *godo.Size
	for i := range sizes {
		if sizes[i].Slug == size {
			sz = &sizes[i]
		}
	}
	if sz == nil {
		problems = append(problems, fmt.Sprintf("unknown size %q: use one of %s", size, slugsOfSizes(sizes, 8)))
	} else if reg != nil && !slices.Contains(sz.Regions, region) {
		problems = append(problems, fmt.Sprintf("size %q is not offered in region %q: pick another size or region", size, region))
	}
	img, err := c.Image(ctx, image)
	if err != nil {
		if isNotFound(err) {
			problems = append(problems, fmt.Sprintf("unknown image %q: use a distribution slug such as debian-12-x64 or ubuntu-24-04-x64, or a snapshot id", image))
		} else {
			return nil, nil, err
		}
	}
	if img != nil && sz != nil && img.MinDiskSize > sz.Disk {
		problems = append(problems, fmt.Sprintf("size %q has a %d GB disk but image %q needs at least %d GB: pick a size with a larger disk", size, sz.Disk, image, img.MinDiskSize))
	}
	if img != nil && img.Public && len(img.Regions) == 0 {
		why := ""
		if img.ErrorMessage != "" {
			why = " (" + img.ErrorMessage + ")"
		}
		problems = append(problems, fmt.Sprintf("image %q is not available in any region%s: pick another image", image, why))
	}
	if img != nil && reg != nil && len(img.Regions) > 0 && !slices.Contains(img.Regions, region) {
		problems = append(problems, fmt.Sprintf("image %q is not available in region %q (it is in %s)", image, region, strings.Join(img.Regions, ", ")))
	}
	if len(problems) > 0 {
		return img, sz, errors.New(strings.Join(problems, "; "))
	}
	return img, sz, nil
}

func slugsOfRegions(rs []godo.Region) string {
	var s []string
	for _, r := range rs {
		if r.Available {
			s = append(s, r.Slug)
		}
	}
	return strings.Join(s, ", ")
}

func slugsOfSizes(ss []godo.Size, n int) string {
	var s []string
	for _, z := range ss {
		if z.Available && len(s) < n {
			s = append(s, z.Slug)
		}
	}
	return strings.Join(s, ", ") + ", ..."
}

// Image finds an image by numeric id or slug.
func (c *Client) Image(ctx context.Context, ref string) (*godo.Image, error) {
	var id int
	if _, err := fmt.Sscanf(ref, "%d", &id); err == nil && fmt.Sprint(id) == ref {
		img, _, err := c.godo.Images.GetByID(ctx, id)
		return img, wrap("getting image "+ref, err)
	}
	img, _, err := c.godo.Images.GetBySlug(ctx, ref)
	return img, wrap("getting image "+ref, err)
}
