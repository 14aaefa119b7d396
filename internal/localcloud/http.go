package localcloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// apiError is DigitalOcean's error body.
type apiError struct {
	ID        string `json:"id"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// Error ids and messages as the real API words them.
const (
	msgUnauthorized = "Unable to authenticate you"
	msgNotFound     = "The resource you were accessing could not be found."
	msgRateLimited  = "API Rate limit exceeded."
	msgPending      = "Droplet already has a pending event."
	msgServerError  = "Server was unable to give you a response."
	msgUnavailable  = "The service is temporarily unavailable. Please try again later."
	msgForbidden    = "You are not authorized to perform this operation"
)

// httpErr is returned by handlers and rendered as an API error body.
type httpErr struct {
	status      int
	id, message string
}

func (e *httpErr) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.id, e.message) }

func errNotFound() *httpErr { return &httpErr{http.StatusNotFound, "not_found", msgNotFound} }
func errUnprocessable(format string, a ...any) *httpErr {
	return &httpErr{http.StatusUnprocessableEntity, "unprocessable_entity", fmt.Sprintf(format, a...)}
}
func errBadRequest(format string, a ...any) *httpErr {
	return &httpErr{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, a...)}
}
func errForbidden() *httpErr { return &httpErr{http.StatusForbidden, "forbidden", msgForbidden} }

// defaultErrorID maps a status a fault serves to the API's error id and message.
func defaultError(status int) (string, string) {
	switch status {
	case http.StatusTooManyRequests:
		return "too_many_requests", msgRateLimited
	case http.StatusNotFound:
		return "not_found", msgNotFound
	case http.StatusUnauthorized:
		return "unauthorized", msgUnauthorized
	case http.StatusServiceUnavailable:
		return "service_unavailable", msgUnavailable
	case http.StatusUnprocessableEntity:
		return "unprocessable_entity", msgPending
	case http.StatusForbidden:
		return "forbidden", msgForbidden
	}
	if status >= 500 {
		return "server_error", msgServerError
	}
	return "bad_request", http.StatusText(status)
}

// call is what a handler gets: the request, its team and the server.
type call struct {
	r    *http.Request
	team int
}

// handlerFunc answers with a status and a JSON value (nil for no body), or an error.
type handlerFunc func(c call) (int, any, error)

// statusWriter remembers the status for the stats.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f handlerFunc) { mux.Handle(pattern, s.wrap(f)) }
	st := &s.st

	h("GET /v2/account", st.getAccount)
	h("GET /v2/account/keys", st.listKeys)
	h("POST /v2/account/keys", st.createKey)
	h("GET /v2/account/keys/{key}", st.getKey)
	h("PUT /v2/account/keys/{key}", st.updateKey)
	h("DELETE /v2/account/keys/{key}", st.deleteKey)

	h("GET /v2/droplets", st.listDroplets)
	h("POST /v2/droplets", st.createDroplets)
	h("DELETE /v2/droplets", st.deleteDropletsByTag)
	h("GET /v2/droplets/{id}", st.getDroplet)
	h("DELETE /v2/droplets/{id}", st.deleteDroplet)
	h("GET /v2/droplets/{id}/actions", st.listDropletActions)
	h("POST /v2/droplets/{id}/actions", st.postDropletAction)
	h("GET /v2/droplets/{id}/actions/{aid}", st.getDropletAction)
	h("GET /v2/droplets/{id}/snapshots", st.listDropletSnapshots)

	h("GET /v2/actions", st.listActions)
	h("GET /v2/actions/{aid}", st.getAction)

	h("GET /v2/images", st.listImages)
	h("GET /v2/images/{id}", st.getImage)
	h("PUT /v2/images/{id}", st.updateImage)
	h("DELETE /v2/images/{id}", st.deleteImage)
	h("GET /v2/images/{id}/actions", st.listImageActions)
	h("POST /v2/images/{id}/actions", st.postImageAction)
	h("GET /v2/images/{id}/actions/{aid}", st.getImageAction)

	h("GET /v2/snapshots", st.listSnapshots)
	h("GET /v2/snapshots/{id}", st.getSnapshot)
	h("DELETE /v2/snapshots/{id}", st.deleteSnapshot)

	h("GET /v2/tags", st.listTags)
	h("POST /v2/tags", st.createTag)
	h("GET /v2/tags/{name}", st.getTag)
	h("DELETE /v2/tags/{name}", st.deleteTag)
	h("POST /v2/tags/{name}/resources", st.tagResources)
	h("DELETE /v2/tags/{name}/resources", st.untagResources)

	h("GET /v2/regions", st.listRegions)
	h("GET /v2/sizes", st.listSizes)

	h("PATCH /api/v1/vendor-portal/apps/{app}", st.patchVendorApp)

	notFound := s.wrap(func(call) (int, any, error) { return 0, nil, errNotFound() })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		route := pattern
		if route == "" {
			route = "unmatched"
		}
		s.mu.Lock()
		s.stats.Total++
		s.stats.Requests[route]++
		s.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			s.mu.Lock()
			s.stats.Statuses[sw.status]++
			s.mu.Unlock()
			// Never log headers or bodies: they carry the token and keys.
			s.o.Logf("local cloud: %s %s -> %d", r.Method, r.URL.Path, sw.status)
		}()
		serve := func(w http.ResponseWriter) {
			if pattern == "" {
				notFound.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		}
		ft, faulted := s.faults.match(r)
		if faulted && ft.After && (ft.Status != 0 || ft.Drop) {
			// Do it, then lose the answer.
			serve(&discardWriter{h: http.Header{}})
		}
		if faulted && s.serveFault(w, sw, r, ft) {
			return
		}
		serve(sw)
	})
}

// discardWriter swallows the real answer of a request served before an
// After fault replaces it.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// serveFault applies a scripted route fault; it reports whether the
// request was answered (or dropped) by it.
func (s *Server) serveFault(w http.ResponseWriter, sw *statusWriter, r *http.Request, ft Fault) bool {
	s.mu.Lock()
	s.stats.Faulted++
	s.mu.Unlock()
	if ft.Delay > 0 {
		if err := sleep(r.Context(), ft.Delay); err != nil {
			return true
		}
	}
	if ft.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				sw.status = -1 // no answer at all
				return true
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2 or a test recorder: abort the stream
	}
	if ft.Status == 0 {
		return false
	}
	if ft.RetryAfter > 0 {
		secs := int((ft.RetryAfter + time.Second - 1) / time.Second)
		sw.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	body := ft.Body
	if body == "" {
		id, msg := defaultError(ft.Status)
		b, _ := json.Marshal(apiError{ID: id, Message: msg})
		body = string(b)
	}
	sw.Header().Set("Content-Type", "application/json; charset=utf-8")
	sw.WriteHeader(ft.Status)
	_, _ = io.WriteString(sw, body)
	return true
}

// wrap authenticates, rate-limits and renders a handler's answer.
func (s *Server) wrap(f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", newRequestID())
		tok, team := s.authenticate(r)
		if team < 0 {
			s.setRateHeaders(w, nil)
			if strings.HasPrefix(r.URL.Path, "/api/v1/vendor-portal/") {
				// The Vendor Portal answers a bad token with 403, not 401.
				s.writeError(w, errForbidden())
				return
			}
			s.writeError(w, &httpErr{http.StatusUnauthorized, "unauthorized", msgUnauthorized})
			return
		}
		if retry, ok := s.takeRate(w, tok); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			s.mu.Lock()
			s.stats.RateLimited++
			s.mu.Unlock()
			s.writeError(w, &httpErr{http.StatusTooManyRequests, "too_many_requests", msgRateLimited})
			return
		}
		status, v, err := f(call{r: r, team: team})
		if err != nil {
			var he *httpErr
			if !errors.As(err, &he) {
				s.o.Logf("local cloud: %s %s: %v", r.Method, r.URL.Path, err)
				he = &httpErr{http.StatusInternalServerError, "server_error", msgServerError}
			}
			s.writeError(w, he)
			return
		}
		if v == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, v)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{ID: "server_error", Message: msgServerError})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Server) writeError(w http.ResponseWriter, e *httpErr) {
	writeJSON(w, e.status, apiError{ID: e.id, Message: e.message, RequestID: w.Header().Get("X-Request-Id")})
}

// authenticate returns the bearer token and its team, or team -1.
func (s *Server) authenticate(r *http.Request) (string, int) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return "", -1
	}
	if tok == s.o.Token {
		return tok, 0
	}
	for i, t := range s.o.ExtraTokens {
		if t != "" && tok == t {
			return tok, i + 1
		}
	}
	return "", -1
}

// teamOfToken returns the team of a token, or -1.
func (s *Server) teamOfToken(tok string) int {
	if tok == "" {
		return -1
	}
	if tok == s.o.Token {
		return 0
	}
	for i, t := range s.o.ExtraTokens {
		if tok == t {
			return i + 1
		}
	}
	return -1
}

// bucket is one token's rate-limit budget: a fixed hourly window plus a
// per-minute burst window.
type bucket struct {
	hourStart, minStart time.Time
	hourUsed, minUsed   int
}

// takeRate spends one request of tok's budget and sets the RateLimit headers;
// when the budget is exhausted it returns the Retry-After seconds and false.
func (s *Server) takeRate(w http.ResponseWriter, tok string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	b := s.limits[tok]
	if b == nil {
		b = &bucket{hourStart: now, minStart: now}
		s.limits[tok] = b
	}
	if now.Sub(b.hourStart) >= time.Hour {
		b.hourStart, b.hourUsed = now, 0
	}
	if now.Sub(b.minStart) >= time.Minute {
		b.minStart, b.minUsed = now, 0
	}
	ok := b.hourUsed < s.o.RateLimitPerHour && b.minUsed < s.o.RateLimitPerMinute
	retry := 0
	if ok {
		b.hourUsed++
		b.minUsed++
	} else if b.hourUsed >= s.o.RateLimitPerHour {
		retry = int(time.Until(b.hourStart.Add(time.Hour)).Seconds()) + 1
	} else {
		retry = int(time.Until(b.minStart.Add(time.Minute)).Seconds()) + 1
	}
	s.setRateHeadersLocked(w, b)
	return retry, ok
}

func (s *Server) setRateHeaders(w http.ResponseWriter, b *bucket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setRateHeadersLocked(w, b)
}

func (s *Server) setRateHeadersLocked(w http.ResponseWriter, b *bucket) {
	remaining, reset := s.o.RateLimitPerHour, time.Now().Add(time.Hour)
	if b != nil {
		remaining = max(s.o.RateLimitPerHour-b.hourUsed, 0)
		reset = b.hourStart.Add(time.Hour)
	}
	w.Header().Set("RateLimit-Limit", strconv.Itoa(s.o.RateLimitPerHour))
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
}

// decode reads a JSON body strictly enough to answer malformed JSON with 400.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return errBadRequest("The request body could not be read: %v", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return errBadRequest("The request body is empty; send a JSON object.")
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errUnprocessable("%s has the wrong type: expected %s.", te.Field, te.Type)
		}
		return errBadRequest("The request body is not valid JSON: %v", err)
	}
	return nil
}

// links and meta are the pagination parts of list responses.
type pageLinks struct {
	Pages map[string]string `json:"pages,omitempty"`
}
type listMeta struct {
	Total int `json:"total"`
}

// paginate picks page and per_page from r and returns the slice bounds,
// the links and the meta of a list of total items.
func (s *Server) paginate(r *http.Request, total int) (int, int, pageLinks, listMeta, error) {
	q := r.URL.Query()
	page, per := 1, 20
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, pageLinks{}, listMeta{}, errBadRequest("page must be a positive integer")
		}
		page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, pageLinks{}, listMeta{}, errBadRequest("per_page must be a positive integer")
		}
		per = min(n, 200)
	}
	last := max((total+per-1)/per, 1)
	link := func(p int) string {
		u := url.URL{Scheme: "http", Host: s.ln.Addr().String(), Path: r.URL.Path}
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("page", strconv.Itoa(p))
		qq.Set("per_page", strconv.Itoa(per))
		u.RawQuery = qq.Encode()
		return u.String()
	}
	pages := map[string]string{}
	if page > 1 {
		pages["first"] = link(1)
		pages["prev"] = link(min(page-1, last))
	}
	if page < last {
		pages["next"] = link(page + 1)
		pages["last"] = link(last)
	}
	start := min((page-1)*per, total)
	end := min(start+per, total)
	return start, end, pageLinks{Pages: pages}, listMeta{Total: total}, nil
}

// pathInt parses an integer path value; anything else is a 404, as on DigitalOcean.
func pathInt(r *http.Request, name string) (int, error) {
	n, err := strconv.Atoi(r.PathValue(name))
	if err != nil || n < 1 {
		return 0, errNotFound()
	}
	return n, nil
}

// background runs f in a goroutine the server waits for on Close.
func (s *Server) background(f func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
}
