package localcloud

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"
)

// TestBadInput checks the status and {"id","message"} body of each bad request.
func TestBadInput(t *testing.T) {
	s, c := startTest(t, nil)
	ctx := context.Background()
	d, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "ok", Region: "nyc3", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, d.ID, "active")
	dropletPath := "/v2/droplets/" + strconv.Itoa(d.ID)
	good := func(extra string) string {
		return `{"name":"x","region":"nyc3","size":"s-1vcpu-1gb","image":"debian-12-x64"` + extra + `}`
	}
	tests := []struct {
		name, method, path, token, body string
		status                          int
		id, message                     string
	}{
		{"no token", "GET", "/v2/account", "", "", 401, "unauthorized", "Unable to authenticate you"},
		{"bad token", "GET", "/v2/droplets", "nope", "", 401, "unauthorized", "Unable to authenticate you"},
		{"malformed json", "POST", "/v2/droplets", testToken, `{"name":`, 400, "bad_request", ""},
		{"empty body", "POST", "/v2/account/keys", testToken, ``, 400, "bad_request", ""},
		{"wrong type", "POST", "/v2/droplets", testToken, `{"name":5}`, 422, "unprocessable_entity", ""},
		{"missing name", "POST", "/v2/droplets", testToken, `{"region":"nyc3","size":"s-1vcpu-1gb","image":"debian-12-x64"}`, 422, "unprocessable_entity", "Name is required."},
		{"bad hostname", "POST", "/v2/droplets", testToken, strings.Replace(good(""), `"x"`, `"a_b"`, 1), 422, "unprocessable_entity", msgHostname},
		{"unknown region", "POST", "/v2/droplets", testToken, strings.Replace(good(""), "nyc3", "mars1", 1), 422, "unprocessable_entity", "You specified an invalid region for Droplet creation."},
		{"unknown size", "POST", "/v2/droplets", testToken, strings.Replace(good(""), "s-1vcpu-1gb", "huge", 1), 422, "unprocessable_entity", "You specified an invalid size for Droplet creation."},
		{"missing size", "POST", "/v2/droplets", testToken, `{"name":"x","image":"debian-12-x64"}`, 422, "unprocessable_entity", "You specified an invalid size for Droplet creation."},
		{"unknown image", "POST", "/v2/droplets", testToken, strings.Replace(good(""), "debian-12-x64", "plan9", 1), 422, "unprocessable_entity", "You specified an invalid image for Droplet creation."},
		{"missing image", "POST", "/v2/droplets", testToken, `{"name":"x","size":"s-1vcpu-1gb"}`, 422, "unprocessable_entity", "You specified an invalid image for Droplet creation."},
		{"unknown ssh key", "POST", "/v2/droplets", testToken, good(`,"ssh_keys":[123]`), 422, "unprocessable_entity", ""},
		{"invalid public key", "POST", "/v2/account/keys", testToken, `{"name":"k","public_key":"ssh-rsa nonsense"}`, 422, "unprocessable_entity", "Key invalid, key should be of the format `type key [comment]`"},
		{"key without name", "POST", "/v2/account/keys", testToken, `{"public_key":"` + readKey(t, "key2.pub") + `"}`, 422, "unprocessable_entity", "Name can't be blank"},
		{"unknown droplet", "GET", "/v2/droplets/999", testToken, "", 404, "not_found", msgNotFound},
		{"non-numeric droplet", "GET", "/v2/droplets/abc", testToken, "", 404, "not_found", msgNotFound},
		{"unknown key", "GET", "/v2/account/keys/1", testToken, "", 404, "not_found", msgNotFound},
		{"unknown fingerprint", "DELETE", "/v2/account/keys/00:11", testToken, "", 404, "not_found", msgNotFound},
		{"unknown action", "GET", "/v2/actions/5", testToken, "", 404, "not_found", msgNotFound},
		{"unknown image", "GET", "/v2/images/5", testToken, "", 404, "not_found", msgNotFound},
		{"unknown snapshot", "GET", "/v2/snapshots/5", testToken, "", 404, "not_found", msgNotFound},
		{"unknown tag", "POST", "/v2/tags/nope/resources", testToken, `{"resources":[{"resource_id":"1","resource_type":"droplet"}]}`, 404, "not_found", msgNotFound},
		{"unknown route", "GET", "/v2/nothing", testToken, "", 404, "not_found", msgNotFound},
		{"delete public image", "DELETE", "/v2/images/160000001", testToken, "", 403, "forbidden", msgForbidden},
		{"unknown action type", "POST", dropletPath + "/actions", testToken, `{"type":"fly"}`, 422, "unprocessable_entity", ""},
		{"power_on while on", "POST", dropletPath + "/actions", testToken, `{"type":"power_on"}`, 422, "unprocessable_entity", "Droplet is already powered on."},
		{"bulk delete without tag", "DELETE", "/v2/droplets", testToken, "", 400, "bad_request", ""},
		{"bad tag name", "POST", "/v2/tags", testToken, `{"name":"a b"}`, 422, "unprocessable_entity", ""},
		{"transfer to unknown region", "POST", "/v2/images/160000001/actions", testToken, `{"type":"transfer","region":"x"}`, 403, "forbidden", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := raw(t, s, tt.method, tt.path, tt.token, tt.body)
			if status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", status, tt.status, body)
			}
			var e apiError
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("body %q is not JSON: %v", body, err)
			}
			if e.ID != tt.id || e.Message == "" || (tt.message != "" && e.Message != tt.message) {
				t.Fatalf("error = %+v, want id %q message %q", e, tt.id, tt.message)
			}
			if hdr.Get("RateLimit-Limit") == "" || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Fatalf("headers = %v", hdr)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	ctx := context.Background()
	_, c := startTest(t, nil)
	for i, f := range []string{"key1.pub", "key2.pub"} {
		if _, _, err := c.Keys.Create(ctx, &godo.KeyCreateRequest{Name: "k" + strconv.Itoa(i), PublicKey: readKey(t, f)}); err != nil {
			t.Fatal(err)
		}
	}
	if ks, resp, err := c.Keys.List(ctx, &godo.ListOptions{PerPage: 1}); err != nil || len(ks) != 1 || resp.Meta.Total != 2 || resp.Links.IsLastPage() {
		t.Fatalf("keys page 1 of 2: %d keys, meta %+v, err %v", len(ks), resp.Meta, err)
	}
	var names []string
	for i := range 5 {
		names = append(names, "web-"+strconv.Itoa(i))
	}
	if _, _, err := c.Droplets.CreateMultiple(ctx, &godo.DropletMultiCreateRequest{Names: names, Region: "nyc1", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		page, per, wantLen int
		wantLast           bool
		wantTotal          int
	}{
		{1, 2, 2, false, 5},
		{2, 2, 2, false, 5},
		{3, 2, 1, true, 5},
		{1, 20, 5, true, 5},
		{9, 2, 0, true, 5},
	}
	for _, tt := range tests {
		ds, resp, err := c.Droplets.List(ctx, &godo.ListOptions{Page: tt.page, PerPage: tt.per})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != tt.wantLen || resp.Links.IsLastPage() != tt.wantLast || resp.Meta.Total != tt.wantTotal {
			t.Errorf("page %d per %d: %d droplets, last=%v, total=%d; want %d %v %d (links %+v)",
				tt.page, tt.per, len(ds), resp.Links.IsLastPage(), resp.Meta.Total, tt.wantLen, tt.wantLast, tt.wantTotal, resp.Links.Pages)
		}
		if tt.page == 2 {
			if cur, err := resp.Links.CurrentPage(); err != nil || cur != 2 {
				t.Errorf("current page = %d, %v", cur, err)
			}
		}
	}
	// Walking next links visits every droplet exactly once.
	seen := map[int]bool{}
	opt := &godo.ListOptions{PerPage: 2}
	for {
		ds, resp, err := c.Droplets.List(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if seen[d.ID] {
				t.Fatalf("droplet %d seen twice", d.ID)
			}
			seen[d.ID] = true
		}
		if resp.Links == nil || resp.Links.IsLastPage() {
			break
		}
		p, _ := resp.Links.CurrentPage()
		opt.Page = p + 1
	}
	if len(seen) != 5 {
		t.Fatalf("walked %d droplets, want 5", len(seen))
	}
}

// TestLockedWhileActionRuns: a second action meanwhile is refused, like DigitalOcean's "pending event".
func TestLockedWhileActionRuns(t *testing.T) {
	ctx := context.Background()
	_, c := startTest(t, func(o *Options) {
		o.TimeScale = 1
		o.Timing = Timing{DropletActive: time.Millisecond, Shutdown: 300 * time.Millisecond}
	})
	d, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "lock", Region: "nyc3", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, d.ID, "active")
	a, _, err := c.DropletActions.Shutdown(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Droplets.Get(ctx, d.ID)
	if err != nil || !got.Locked || got.Status != "active" {
		t.Fatalf("during shutdown: locked=%v status=%s err=%v", got.Locked, got.Status, err)
	}
	_, _, err = c.DropletActions.PowerOff(ctx, d.ID)
	assertAPIError(t, err, http.StatusUnprocessableEntity, "unprocessable_entity")
	if er := err.(*godo.ErrorResponse); er.Message != msgPending {
		t.Fatalf("message = %q", er.Message)
	}
	waitAction(t, c, a.ID)
	waitStatus(t, c, d.ID, "off")
	if _, _, err := c.DropletActions.PowerOn(ctx, d.ID); err != nil {
		t.Fatalf("power on after shutdown: %v", err)
	}
}
