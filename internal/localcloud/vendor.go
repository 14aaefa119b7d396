package localcloud

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// Vendor Portal app states.
const (
	AppApproved = "approved"
	AppPending  = "pending"
	AppInReview = "in_review"
)

// VendorApp is a Marketplace listing in the emulated Vendor Portal.
//
// PATCH /api/v1/vendor-portal/apps/{id} is not in DigitalOcean's OpenAPI
// spec, so the emulator defines its answer: 200 {"app": VendorApp as JSON};
// errors are {"id","message"} like the v2 API. A successful update puts the
// app in review, so a second submission is a 400 until it is approved.
type VendorApp struct {
	ID               string     `json:"id"`
	Name             string     `json:"name"`
	Token            string     `json:"-"` // the owning team's API token
	State            string     `json:"state"`
	ImageID          int        `json:"imageId,omitempty"`
	Version          string     `json:"version"`
	OSVersion        string     `json:"osVersion"`
	ReasonForUpdate  string     `json:"reasonForUpdate"`
	SoftwareIncluded []Software `json:"softwareIncluded"`
	UpdatedAt        string     `json:"updatedAt,omitempty"`
}

// Software is one entry of an app's softwareIncluded list.
type Software struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	ReleaseNotes string `json:"releaseNotes"`
	Website      string `json:"website"`
	LicenseType  string `json:"licenseType"`
	LicenseLink  string `json:"licenseLink"`
}

// VendorApp returns the current state of a seeded app, for tests.
func (s *Server) VendorApp(id string) (VendorApp, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.st.apps[id]
	if !ok {
		return VendorApp{}, false
	}
	c := *a
	c.SoftwareIncluded = slices.Clone(a.SoftwareIncluded)
	return c, true
}

func (st *state) patchVendorApp(c call) (int, any, error) {
	s := st.srv
	var req struct {
		ImageID          *json.Number `json:"imageId"`
		ReasonForUpdate  *string      `json:"reasonForUpdate"`
		Version          *string      `json:"version"`
		OSVersion        *string      `json:"osVersion"`
		SoftwareIncluded *[]Software  `json:"softwareIncluded"`
	}
	s.mu.Lock()
	app := st.apps[c.r.PathValue("app")]
	s.mu.Unlock()
	if app == nil {
		return 0, nil, errNotFound()
	}
	if s.teamOfToken(app.Token) != c.team {
		return 0, nil, errForbidden()
	}
	if err := decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if app.State == AppPending || app.State == AppInReview {
		return 0, nil, errBadRequest("The app is %s; wait until its review ends before submitting an update.", app.State)
	}
	if req.ImageID == nil {
		return 0, nil, errBadRequest("imageId is required.")
	}
	id64, err := req.ImageID.Int64()
	if err != nil {
		return 0, nil, errBadRequest("imageId must be an integer.")
	}
	im := st.images[int(id64)]
	if im == nil || im.typ != "snapshot" {
		return 0, nil, errBadRequest("imageId %d is not a snapshot image.", id64)
	}
	if im.team != c.team {
		return 0, nil, errForbidden()
	}
	app.ImageID = im.id
	// null leaves a field alone; "" or [] overwrites it.
	if req.ReasonForUpdate != nil {
		app.ReasonForUpdate = *req.ReasonForUpdate
	}
	if req.Version != nil {
		app.Version = *req.Version
	}
	if req.OSVersion != nil {
		app.OSVersion = *req.OSVersion
	}
	if req.SoftwareIncluded != nil {
		app.SoftwareIncluded = slices.Clone(*req.SoftwareIncluded)
	}
	app.State = AppInReview
	app.UpdatedAt = timeJSON(time.Now())
	out := *app
	if out.SoftwareIncluded == nil {
		out.SoftwareIncluded = []Software{}
	}
	return http.StatusOK, map[string]any{"app": out}, nil
}
