// Package vendorapi submits a snapshot to DigitalOcean's Vendor Portal as a Marketplace app update.
package vendorapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
)

// DefaultBaseURL is DigitalOcean's API; the Vendor Portal lives under /api/v1/.
const DefaultBaseURL = "https://api.digitalocean.com/"

// Software is one entry of an app's "softwareIncluded" list.
type Software struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	ReleaseNotes string `json:"releaseNotes"`
	Website      string `json:"website"`
	LicenseType  string `json:"licenseType"`
	LicenseLink  string `json:"licenseLink"`
	// Package is the installed package whose version fills an empty Version
	// (default: Name); the portal never sees it.
	Package string `json:"-"`
}

// Update is the body of an app update. A nil field is sent as JSON null,
// which the portal reads as "leave it alone"; a pointer to "" (or to an
// empty slice) overwrites the field with nothing. ImageID 0 is sent as null
// and the portal refuses it, since an update without an image means nothing.
type Update struct {
	ImageID          int
	ReasonForUpdate  *string
	Version          *string
	OSVersion        *string
	SoftwareIncluded *[]Software
}

// MarshalJSON writes every field, nil ones as null, so the wire shape says
// explicitly what is left alone.
func (u Update) MarshalJSON() ([]byte, error) {
	var img *int
	if u.ImageID != 0 {
		img = &u.ImageID
	}
	return json.Marshal(struct {
		ImageID          *int        `json:"imageId"`
		ReasonForUpdate  *string     `json:"reasonForUpdate"`
		Version          *string     `json:"version"`
		OSVersion        *string     `json:"osVersion"`
		SoftwareIncluded *[]Software `json:"softwareIncluded"`
	}{img, u.ReasonForUpdate, u.Version, u.OSVersion, u.SoftwareIncluded})
}

// App states the portal reports.
const (
	StateApproved = "approved"
	StatePending  = "pending"
	StateInReview = "in_review"
)

// App is a Marketplace listing as the portal returns it after an update.
type App struct {
	ID               string     `json:"id"`
	Name             string     `json:"name"`
	State            string     `json:"state"`
	ImageID          int        `json:"imageId"`
	Version          string     `json:"version"`
	OSVersion        string     `json:"osVersion"`
	ReasonForUpdate  string     `json:"reasonForUpdate"`
	SoftwareIncluded []Software `json:"softwareIncluded"`
	UpdatedAt        string     `json:"updatedAt"`
}

// Error is an answer of the portal that is not a success, with a hint that
// says what to do about it.
type Error struct {
	Status    int    // HTTP status
	ID        string // the API's error id, such as "forbidden"
	Message   string // the API's message
	Hint      string // what to do
	RequestID string
	AppID     string
}

// Hints for the answers a vendor can act on.
const (
	HintInReview  = "wait for the review to end; not retried"
	HintForbidden = "check the token belongs to the team that owns the app and the image"
	HintNotFound  = "check the app id in the Vendor Portal URL"
	HintImage     = "check the image id is a snapshot of this team (the build's snapshot-id output)"
	HintServer    = "DigitalOcean's API kept failing; run the submit again later"
)

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vendor portal: update app %q: %d", e.AppID, e.Status)
	if e.ID != "" {
		fmt.Fprintf(&b, " %s", e.ID)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, " (%s)", e.Hint)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

// Temporary reports whether trying again later may succeed.
func (e *Error) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// Client talks to the Vendor Portal API.
type Client struct {
	base       string
	token      string
	userAgent  string
	attempts   int
	minBackoff time.Duration
	maxBackoff time.Duration
	timeout    time.Duration
	logf       func(format string, args ...any)
	pause      *cloud.Pause // shared with the build's API client; nil: its own
}

// Option configures a Client.
type Option func(*Client)

// WithRetries sets how many attempts a request gets in all and the bounds
// of the exponential backoff between them (defaults: 5, 1s, 30s).
func WithRetries(attempts int, minBackoff, maxBackoff time.Duration) Option {
	return func(c *Client) {
		c.attempts, c.minBackoff, c.maxBackoff = max(attempts, 1), minBackoff, max(maxBackoff, minBackoff)
	}
}

// WithAttemptTimeout bounds one HTTP attempt (default 60s).
func WithAttemptTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithLogf receives one line per retried attempt; it never sees the token.
func WithLogf(logf func(format string, args ...any)) Option { return func(c *Client) { c.logf = logf } }

// WithPause shares a DigitalOcean API client's 429 pause (cloud.Client.Pause):
// the portal is part of that API, and its rate limit is the token's.
func WithPause(p *cloud.Pause) Option { return func(c *Client) { c.pause = p } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the API at baseURL ("" means DefaultBaseURL);
// it makes no request, and a bad URL or empty token is reported by the
// first call.
func New(baseURL, token string, opts ...Option) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	c := &Client{
		base: baseURL, token: token, userAgent: "mp-image",
		attempts: 5, minBackoff: time.Second, maxBackoff: 30 * time.Second,
		timeout: 60 * time.Second, logf: func(string, ...any) {},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// httpClient sends through the DigitalOcean API's retry layer (the portal is
// part of that API): 5xx, 429 (with a pause every request honours) and
// connection failures are retried; the PATCH sets the same fields each
// time, so repeating it is safe.
func (c *Client) httpClient() *http.Client {
	return &http.Client{Transport: &cloud.Transport{
		MaxAttempts: c.attempts, MinBackoff: c.minBackoff, MaxBackoff: c.maxBackoff, AttemptTimeout: c.timeout, Pause: c.pause,
		Notify: func(_ *http.Request, attempt, of int, err error, wait time.Duration) {
			c.logf("vendor portal: attempt %d of %d failed (%v); retrying in %s", attempt, of, c.scrub(err), wait.Round(time.Millisecond))
		},
	}}
}

// maxBody caps what is read of an answer; the portal's are small.
const maxBody = 1 << 20

// UpdateApp submits u as an update of the app and returns the app as the
// portal then holds it (normally in review). 5xx, 429 and connection
// failures are retried with backoff (the PATCH sets the same fields each
// time, so repeating it is safe); 400, 403 and 404 are returned at once as
// an *Error.
func (c *Client) UpdateApp(ctx context.Context, appID string, u Update) (*App, error) {
	if strings.TrimSpace(appID) == "" {
		return nil, errors.New("vendor portal: no app id: give the id from the app's Vendor Portal URL")
	}
	if c.token == "" {
		return nil, errors.New("vendor portal: no API token: set --token or DIGITALOCEAN_TOKEN")
	}
	endpoint, err := c.endpoint(appID)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("vendor portal: encode update of app %q: %w", appID, err)
	}
	return c.send(ctx, endpoint, appID, body)
}

func (c *Client) endpoint(appID string) (string, error) {
	u, err := url.Parse(c.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("vendor portal: API URL %q is not an http(s) URL: use one like %s", c.base, DefaultBaseURL)
	}
	return strings.TrimSuffix(u.String(), "/") + "/api/v1/vendor-portal/apps/" + url.PathEscape(appID), nil
}

// send sends the update through the retry layer and reads what came back.
func (c *Client) send(ctx context.Context, endpoint, appID string, body []byte) (*App, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("vendor portal: build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.httpClient().Do(req)
	var te *cloud.TransientError
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("vendor portal: update app %q cancelled: %w", appID, c.scrub(err))
	case errors.As(err, &te) && te.Resp != nil:
		// The portal kept failing: its last answer says how.
		raw, _ := io.ReadAll(io.LimitReader(te.Resp.Body, maxBody))
		ae := c.apiError(te.Resp, raw, appID)
		if te.Attempts > 1 {
			ae.Hint = fmt.Sprintf("%s; tried %d times", HintServer, te.Attempts)
		}
		return nil, ae
	case errors.As(err, &te) && te.Attempts > 1:
		return nil, fmt.Errorf("vendor portal: update app %q failed after %d attempts (%s): %w", appID, te.Attempts, HintServer, c.scrub(err))
	case err != nil:
		return nil, fmt.Errorf("vendor portal: update app %q: %w", appID, c.scrub(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("vendor portal: update app %q: read answer: %w", appID, c.scrub(err))
	}
	if resp.StatusCode/100 == 2 {
		var out struct {
			App *App `json:"app"`
		}
		if err := json.Unmarshal(raw, &out); err != nil || out.App == nil {
			// A 2xx we cannot read is not retried: the update may have landed.
			return nil, fmt.Errorf("vendor portal: update app %q: status %d but the answer has no app (%.200q); check the app in the Vendor Portal before submitting again",
				appID, resp.StatusCode, c.redact(string(raw)))
		}
		return out.App, nil
	}
	return nil, c.apiError(resp, raw, appID)
}

func (c *Client) apiError(resp *http.Response, raw []byte, appID string) *Error {
	var body struct {
		ID        string `json:"id"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(raw, &body) != nil || (body.ID == "" && body.Message == "") {
		body.Message = strings.TrimSpace(string(raw))
		if len(body.Message) > 200 {
			body.Message = body.Message[:200] + "..."
		}
	}
	e := &Error{
		Status: resp.StatusCode, ID: body.ID, Message: c.redact(body.Message), AppID: appID,
		RequestID: body.RequestID,
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-Id")
	}
	e.Hint = hint(e.Status, e.Message)
	return e
}

// hint picks the advice for an answer; a 400 is either about the app's
// review or about the image, and only the message tells which.
func hint(status int, msg string) string {
	m := strings.ToLower(msg)
	switch {
	case status == http.StatusBadRequest && (strings.Contains(m, "review") || strings.Contains(m, "pending")):
		return HintInReview
	case status == http.StatusBadRequest && strings.Contains(m, "image"):
		return HintImage
	case status == http.StatusBadRequest:
		return "the portal refused the update: fix what its message says; not retried"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return HintForbidden
	case status == http.StatusNotFound:
		return HintNotFound
	case status == http.StatusTooManyRequests:
		return "rate limited; retried with backoff"
	case status >= 500:
		return "DigitalOcean's API failed; retried with backoff"
	}
	return ""
}

// redact removes the token from text that came from elsewhere, in case a
// server or proxy echoes it.
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[token]")
}

func (c *Client) scrub(err error) error {
	if s := err.Error(); c.token != "" && strings.Contains(s, c.token) {
		return errors.New(c.redact(s))
	}
	return err
}
