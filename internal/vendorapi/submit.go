package vendorapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Submit sends a built snapshot to the Vendor Portal as an update of the
// app, for the pipeline after build_image and for `mp-image submit`.
// An empty version, reason or osVersion and an empty software list are
// sent as null, so the portal keeps what the listing already says; use
// UpdateApp to overwrite a field with nothing. sw comes from ParseSoftware
// (versions filled from the image's packages where they were left out).
func Submit(ctx context.Context, baseURL, token, appID string, imageID int, version, reason, osVersion string, sw []Software, opts ...Option) (*App, error) {
	if imageID <= 0 {
		return nil, fmt.Errorf("vendor portal: image id %d is not a snapshot id: pass the build's snapshot-id", imageID)
	}
	if strings.TrimSpace(appID) == "" {
		return nil, errors.New("vendor portal: no app id: give the id from the app's Vendor Portal URL")
	}
	u := Update{ImageID: imageID, Version: nonEmpty(version), ReasonForUpdate: nonEmpty(reason), OSVersion: nonEmpty(osVersion)}
	if len(sw) > 0 {
		u.SoftwareIncluded = &sw
	}
	return New(baseURL, token, opts...).UpdateApp(ctx, appID, u)
}

func nonEmpty(s string) *string {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return &s
}
