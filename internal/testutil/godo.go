package testutil

import (
	"net/http"

	"github.com/digitalocean/godo"
)

// bearer sends token the way doctl and the tool do.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// Godo is the real godo client on the API at url, authenticated with token:
// what tests use to look at or make what the tool would.
func Godo(url, token string) *godo.Client {
	c, err := godo.New(&http.Client{Transport: bearer{token}}, godo.SetBaseURL(url))
	if err != nil {
		panic(err) // only a malformed url, which is the test's own
	}
	return c
}
