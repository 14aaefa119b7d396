package cloud

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/godo"
	"github.com/hashicorp/go-multierror"
	"github.com/mp-image-action/mp-image-action/internal/retry"
)

// retryAmbiguous runs a non-idempotent create. After an ambiguous failure it
// asks adopt whether the create took effect anyway (asking again while the
// lookup itself fails transiently) before trying again.
func (c *Client) retryAmbiguous(ctx context.Context, what string, create func() error, adopt func() (bool, error)) error {
	const attempts = 6
	n, err := retry.Do(ctx, attempts, c.tr.backoff(), func(int) error {
		err := create()
		if err == nil || !isTransient(err) {
			return err
		}
		c.logf("%s: %v; checking whether it was created anyway", what, err)
		var adopted bool
		_, aerr := retry.Do(ctx, 0, c.tr.backoff(), func(int) error {
			ok, aerr := adopt()
			if aerr != nil && isTransient(aerr) {
				return retry.Again(aerr, 0)
			}
			adopted = ok
			return aerr
		}, nil)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case aerr != nil:
			return fmt.Errorf("%s: %v; and looking it up failed: %w", what, err, aerr)
		case adopted:
			return nil
		}
		return retry.Again(err, 0)
	}, nil)
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case isTransient(err) && n >= attempts:
		return fmt.Errorf("%s: gave up after %d attempts: %w", what, attempts, err)
	}
	return err
}

// CreateKey registers a public key on the account. A retried create that
// finds the key already there adopts it.
func (c *Client) CreateKey(ctx context.Context, name, publicKey, fingerprint string) (*godo.Key, error) {
	var key *godo.Key
	byFingerprint := func() (bool, error) {
		k, _, err := c.godo.Keys.GetByFingerprint(ctx, fingerprint)
		if err != nil {
			if isNotFound(err) {
				return false, nil
			}
			return false, err
		}
		key = k
		return true, nil
	}
	err := c.retryAmbiguous(ctx, "creating the temporary SSH key", func() error {
		k, _, err := c.godo.Keys.Create(ctx, &godo.KeyCreateRequest{Name: name, PublicKey: publicKey})
		if err != nil {
			if StatusOf(err) == http.StatusUnprocessableEntity && fingerprint != "" {
				// "already in use": an earlier attempt of ours succeeded.
				if ok, ferr := byFingerprint(); ferr == nil && ok {
					return nil
				}
			}
			return err
		}
		key = k
		return nil
	}, byFingerprint)
	return key, wrap("creating the temporary SSH key", err)
}

// DeleteKey deletes a key and checks it is gone; a key already gone is not
// an error.
func (c *Client) DeleteKey(ctx context.Context, id int) error {
	if err := c.SendDeleteKey(ctx, id); err != nil {
		return err
	}
	return c.VerifyKeyGone(ctx, id)
}

// SendDeleteKey asks for a key's deletion; a key already gone is not an error.
func (c *Client) SendDeleteKey(ctx context.Context, id int) error {
	_, err := c.godo.Keys.DeleteByID(ctx, id)
	if err != nil && !isNotFound(err) {
		return wrap(fmt.Sprintf("deleting SSH key %d", id), err)
	}
	return nil
}

// VerifyKeyGone checks that the API no longer has the key.
func (c *Client) VerifyKeyGone(ctx context.Context, id int) error {
	_, _, err := c.godo.Keys.GetByID(ctx, id)
	if err == nil {
		return fmt.Errorf("SSH key %d still exists after delete", id)
	}
	if !isNotFound(err) {
		return wrap(fmt.Sprintf("verifying SSH key %d is gone", id), err)
	}
	return nil
}

// CreateDroplet creates one droplet. req.Tags must include runTag, a tag
// unique to this run: after an ambiguous failure the droplet is looked up by
// it and adopted instead of created twice.
func (c *Client) CreateDroplet(ctx context.Context, req *godo.DropletCreateRequest, runTag string) (*godo.Droplet, error) {
	var d *godo.Droplet
	found := func() (bool, error) {
		ds, _, err := c.godo.Droplets.ListByTag(ctx, runTag, &godo.ListOptions{PerPage: 50})
		if err != nil {
			return false, err
		}
		for i := range ds {
			if ds[i].Name == req.Name {
				d = &ds[i]
				c.logf("adopted droplet %d created by an earlier attempt", d.ID)
				return true, nil
			}
		}
		return false, nil
	}
	err := c.retryAmbiguous(ctx, "creating the droplet", func() error {
		nd, _, err := c.godo.Droplets.Create(ctx, req)
		if err == nil {
			d = nd
		}
		return err
	}, found)
	return d, wrap("creating the droplet", err)
}

// KeyByFingerprint finds an account key; nil without an error when there is none.
func (c *Client) KeyByFingerprint(ctx context.Context, fingerprint string) (*godo.Key, error) {
	k, _, err := c.godo.Keys.GetByFingerprint(ctx, fingerprint)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, wrap("looking up the key "+fingerprint, err)
	}
	return k, nil
}

// DropletsNamed lists the droplets carrying tag and named name: what a create
// whose answer was lost (cancelled or failed mid-request) may have made.
func (c *Client) DropletsNamed(ctx context.Context, tag, name string) ([]godo.Droplet, error) {
	ds, err := c.DropletsByTag(ctx, tag)
	if err != nil {
		return nil, err
	}
	var out []godo.Droplet
	for _, d := range ds {
		if d.Name == name {
			out = append(out, d)
		}
	}
	return out, nil
}

// DropletsByTag lists every droplet carrying tag.
func (c *Client) DropletsByTag(ctx context.Context, tag string) ([]godo.Droplet, error) {
	ds, err := All(ctx, func(o *godo.ListOptions) ([]godo.Droplet, *godo.Response, error) {
		return c.godo.Droplets.ListByTag(ctx, tag, o)
	})
	return ds, wrap("listing droplets tagged "+tag, err)
}

// Droplet gets a droplet.
func (c *Client) Droplet(ctx context.Context, id int) (*godo.Droplet, error) {
	d, _, err := c.godo.Droplets.Get(ctx, id)
	return d, wrap(fmt.Sprintf("getting droplet %d", id), err)
}

// WaitActive waits until the droplet is active with a public IPv4. The
// previous droplet's boot time (the build droplet's, for the boot test's) is
// the hint for this one; before any, ExpectActive.
func (c *Client) WaitActive(ctx context.Context, id int) (*godo.Droplet, error) {
	var d *godo.Droplet
	clk := c.clock()
	start := clk.Now()
	c.mu.Lock()
	expect := cmp.Or(c.boot, c.o.ExpectActive)
	c.mu.Unlock()
	// The boot ended between the last look that missed it and the one that
	// saw it: the middle is the best guess for the next droplet.
	var missed, saw time.Duration
	err := c.poll(expect).Until(ctx, func(ctx context.Context) (bool, error) {
		missed, saw = saw, clk.Now().Sub(start)
		var err error
		d, err = c.Droplet(ctx, id)
		if err != nil {
			return false, err
		}
		if d.Status == "active" {
			if ip, _ := d.PublicIPv4(); ip != "" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		status := "unknown"
		if d != nil {
			status = d.Status
		}
		return d, fmt.Errorf("waiting for droplet %d to become active (last status %q): %w", id, status, err)
	}
	c.mu.Lock()
	c.boot = (missed + saw) / 2
	c.mu.Unlock()
	return d, nil
}

// ActionError is an action that ended "errored".
type ActionError struct {
	ActionID int
	Type     string
	Resource string
}

func (e *ActionError) Error() string {
	return fmt.Sprintf("%s action %d on %s ended with status errored: check the action in the control panel or retry the build", e.Type, e.ActionID, e.Resource)
}

// DropletAction starts shutdown, power_off, power_on, reboot or snapshot (with
// name). A 422 "pending event" means another action still runs: wait for the
// droplet to unlock and try again. After an ambiguous failure an action of the
// same type started since is adopted, so a snapshot is never taken twice.
func (c *Client) DropletAction(ctx context.Context, id int, typ, name string) (*godo.Action, error) {
	var act *godo.Action
	started := time.Now().Add(-2 * time.Second)
	adopt := func() (bool, error) {
		acts, _, err := c.godo.Droplets.Actions(ctx, id, &godo.ListOptions{PerPage: 20})
		if err != nil {
			return false, err
		}
		for i := range acts {
			a := acts[i]
			if a.Type == typ && a.StartedAt != nil && !a.StartedAt.Time.Before(started) {
				act = &a
				return true, nil
			}
		}
		return false, nil
	}
	do := func() error {
		var a *godo.Action
		var err error
		switch typ {
		case "shutdown":
			a, _, err = c.godo.DropletActions.Shutdown(ctx, id)
		case "power_off":
			a, _, err = c.godo.DropletActions.PowerOff(ctx, id)
		case "power_on":
			a, _, err = c.godo.DropletActions.PowerOn(ctx, id)
		case "reboot":
			a, _, err = c.godo.DropletActions.Reboot(ctx, id)
		case "snapshot":
			a, _, err = c.godo.DropletActions.Snapshot(ctx, id, name)
		default:
			return fmt.Errorf("unsupported droplet action %q", typ)
		}
		if err == nil {
			act = a
		}
		return err
	}
	for {
		err := c.retryAmbiguous(ctx, typ+" of droplet "+fmt.Sprint(id), do, adopt)
		if err == nil {
			return act, nil
		}
		if StatusOf(err) != http.StatusUnprocessableEntity || !strings.Contains(strings.ToLower(err.Error()), "pending") {
			return nil, wrap(fmt.Sprintf("%s of droplet %d", typ, id), err)
		}
		c.logf("droplet %d has a pending event; waiting for it to unlock before %s", id, typ)
		if err := c.waitUnlocked(ctx, id); err != nil {
			return nil, err
		}
	}
}

func (c *Client) waitUnlocked(ctx context.Context, id int) error {
	return c.poll(0).Until(ctx, func(ctx context.Context) (bool, error) {
		d, err := c.Droplet(ctx, id)
		if err != nil {
			return false, err
		}
		return !d.Locked, nil
	})
}

// WaitAction waits for an action to complete; "errored" is an *ActionError.
func (c *Client) WaitAction(ctx context.Context, a *godo.Action, expect time.Duration) (*godo.Action, error) {
	cur := a
	if cur.Status == "completed" {
		return cur, nil
	}
	err := c.poll(expect).Until(ctx, func(ctx context.Context) (bool, error) {
		na, _, err := c.godo.Actions.Get(ctx, a.ID)
		if err != nil {
			return false, wrap(fmt.Sprintf("getting action %d", a.ID), err)
		}
		cur = na
		switch na.Status {
		case "completed":
			return true, nil
		case "errored":
			return false, &ActionError{ActionID: na.ID, Type: na.Type, Resource: fmt.Sprintf("%s %d", na.ResourceType, na.ResourceID)}
		}
		return false, nil
	})
	return cur, err
}

// Shutdown stops the droplet gracefully and waits until it is off; when it is
// not off within grace it falls back to power_off (a hung OS must not stall
// the build, packer#3919).
func (c *Client) Shutdown(ctx context.Context, id int, grace time.Duration) (fellBack bool, err error) {
	if d, err := c.Droplet(ctx, id); err == nil && d.Status == "off" {
		return false, nil
	}
	a, err := c.DropletAction(ctx, id, "shutdown", "")
	if err != nil {
		return false, err
	}
	gctx, cancel := context.WithTimeout(ctx, grace)
	_, werr := c.WaitAction(gctx, a, c.o.ExpectShutdown)
	if werr == nil {
		// The action completing means the droplet is off: look at once.
		werr = c.waitStatus(gctx, id, "off", c.pollNow())
	}
	cancel()
	if werr == nil {
		return false, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	c.logf("droplet %d did not shut down within %s (%v); powering it off", id, grace, werr)
	a, err = c.DropletAction(ctx, id, "power_off", "")
	if err != nil {
		return true, err
	}
	if _, err := c.WaitAction(ctx, a, 5*time.Second); err != nil {
		return true, err
	}
	return true, c.waitStatus(ctx, id, "off", c.pollNow())
}

func (c *Client) waitStatus(ctx context.Context, id int, status string, p Poll) error {
	return p.Until(ctx, func(ctx context.Context) (bool, error) {
		d, err := c.Droplet(ctx, id)
		if err != nil {
			return false, err
		}
		return d.Status == status, nil
	})
}

// SnapshotEstimate is a hint for how long a snapshot of a droplet with used
// bytes on its disk takes: a minute plus 20 s per GB, the local cloud's model
// too. Only a hint: a wrong one costs one request (see Poll).
func SnapshotEstimate(used int64) time.Duration {
	return time.Minute + time.Duration(float64(20*time.Second)*float64(used)/(1<<30))
}

// Snapshot takes a snapshot of the (powered-off) droplet and returns its
// image, identified by the action and the unique name, never by "the
// droplet's only snapshot" (mp#130).
func (c *Client) Snapshot(ctx context.Context, id int, name string, expect time.Duration) (*godo.Image, error) {
	if expect == 0 {
		expect = c.o.ExpectSnapshot
	}
	a, err := c.DropletAction(ctx, id, "snapshot", name)
	if err != nil {
		return nil, err
	}
	return c.FinishSnapshot(ctx, id, a, name, expect)
}

// FinishSnapshot waits for a snapshot action started on droplet id and
// returns the image it made, found by its unique name.
func (c *Client) FinishSnapshot(ctx context.Context, id int, a *godo.Action, name string, expect time.Duration) (*godo.Image, error) {
	if expect == 0 {
		expect = c.o.ExpectSnapshot
	}
	if _, err := c.WaitAction(ctx, a, expect); err != nil {
		return nil, fmt.Errorf("snapshot action %d: %w", a.ID, err)
	}
	var img *godo.Image
	err := c.pollNow().Until(ctx, func(ctx context.Context) (bool, error) {
		imgs, _, err := c.godo.Droplets.Snapshots(ctx, id, &godo.ListOptions{PerPage: 200})
		if err != nil {
			return false, wrap("listing the droplet's snapshots", err)
		}
		for i := range imgs {
			if imgs[i].Name == name {
				img = &imgs[i]
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot action %d completed but no snapshot named %q appeared: %w", a.ID, name, err)
	}
	return img, nil
}

// DeleteDroplet deletes a droplet and waits until the API no longer has it.
func (c *Client) DeleteDroplet(ctx context.Context, id int) error {
	if err := c.SendDeleteDroplet(ctx, id); err != nil {
		return err
	}
	return c.WaitDropletGone(ctx, id)
}

// SendDeleteDroplet asks for a droplet's deletion without waiting for it; a
// droplet already gone is not an error.
func (c *Client) SendDeleteDroplet(ctx context.Context, id int) error {
	_, err := c.godo.Droplets.Delete(ctx, id)
	if err != nil && !isNotFound(err) {
		return wrap(fmt.Sprintf("deleting droplet %d", id), err)
	}
	return nil
}

// WaitDropletGone waits until the API no longer has the droplet.
func (c *Client) WaitDropletGone(ctx context.Context, id int) error {
	return c.pollNow().Until(ctx, func(ctx context.Context) (bool, error) {
		_, _, err := c.godo.Droplets.Get(ctx, id)
		if isNotFound(err) {
			return true, nil
		}
		return false, wrap(fmt.Sprintf("verifying droplet %d is gone", id), err)
	})
}

// SnapshotsNamed lists the account's snapshots named name created at or
// after since (the API's clock), over every page.
func (c *Client) SnapshotsNamed(ctx context.Context, name string, since time.Time) ([]godo.Image, error) {
	imgs, err := All(ctx, func(o *godo.ListOptions) ([]godo.Image, *godo.Response, error) { return c.godo.Images.ListUser(ctx, o) })
	if err != nil {
		return nil, wrap("listing snapshots", err)
	}
	var out []godo.Image
	for _, im := range imgs {
		t, terr := time.Parse(time.RFC3339, im.Created)
		if im.Name == name && (terr != nil || !t.Before(since)) {
			out = append(out, im)
		}
	}
	return out, nil
}

// DeleteImage deletes a snapshot image; one already gone is not an error.
func (c *Client) DeleteImage(ctx context.Context, id int) error {
	_, err := c.godo.Images.Delete(ctx, id)
	if err != nil && !isNotFound(err) {
		return wrap(fmt.Sprintf("deleting snapshot %d", id), err)
	}
	return nil
}

// Transfer copies an image to every region in parallel and waits for all;
// every failure is reported, each with its action id.
func (c *Client) Transfer(ctx context.Context, imageID int, regions []string) error {
	var mu sync.Mutex
	var errs *multierror.Error
	var wg sync.WaitGroup
	for _, r := range regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.transferOne(ctx, imageID, r)
			if err != nil {
				mu.Lock()
				errs = multierror.Append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs.ErrorOrNil()
}

func (c *Client) transferOne(ctx context.Context, imageID int, region string) error {
	a, _, err := c.godo.ImageActions.Transfer(ctx, imageID, &godo.ActionRequest{"type": "transfer", "region": region})
	if err != nil {
		if isTransient(err) {
			// A duplicate transfer request is harmless at worst; retry once.
			a, _, err = c.godo.ImageActions.Transfer(ctx, imageID, &godo.ActionRequest{"type": "transfer", "region": region})
		}
		if err != nil {
			return wrap(fmt.Sprintf("transferring snapshot %d to %s", imageID, region), err)
		}
	}
	err = c.poll(c.o.ExpectTransfer).Until(ctx, func(ctx context.Context) (bool, error) {
		na, _, err := c.godo.ImageActions.Get(ctx, imageID, a.ID)
		if err != nil {
			return false, wrap(fmt.Sprintf("getting transfer action %d", a.ID), err)
		}
		switch na.Status {
		case "completed":
			return true, nil
		case "errored":
			return false, &ActionError{ActionID: na.ID, Type: "transfer to " + region, Resource: fmt.Sprintf("image %d", imageID)}
		}
		return false, nil
	})
	return err
}

// TagImage tags a snapshot. A tag that does not exist yet (tagging answers
// 404) is created and the tagging tried once more; tags that exist, such as
// the run tag the droplet's create made, cost one request each.
func (c *Client) TagImage(ctx context.Context, imageID int, tags []string) error {
	return c.tag(ctx, godo.Resource{ID: fmt.Sprint(imageID), Type: godo.ImageResourceType}, fmt.Sprintf("snapshot %d", imageID), tags)
}

// TagDroplet adds tags to a droplet, creating missing tags.
func (c *Client) TagDroplet(ctx context.Context, dropletID int, tags []string) error {
	return c.tag(ctx, godo.Resource{ID: fmt.Sprint(dropletID), Type: godo.DropletResourceType}, fmt.Sprintf("droplet %d", dropletID), tags)
}

func (c *Client) tag(ctx context.Context, res godo.Resource, what string, tags []string) error {
	var errs *multierror.Error
	req := &godo.TagResourcesRequest{Resources: []godo.Resource{res}}
	for _, t := range tags {
		_, err := c.godo.Tags.TagResources(ctx, t, req)
		if isNotFound(err) {
			if _, _, cerr := c.godo.Tags.Create(ctx, &godo.TagCreateRequest{Name: t}); cerr != nil && StatusOf(cerr) != http.StatusUnprocessableEntity {
				errs = multierror.Append(errs, wrap("creating tag "+t, cerr))
				continue
			}
			_, err = c.godo.Tags.TagResources(ctx, t, req)
		}
		if err != nil {
			errs = multierror.Append(errs, wrap(fmt.Sprintf("tagging %s with %s", what, t), err))
		}
	}
	return errs.ErrorOrNil()
}

// FindDropletByIP finds the droplet whose public IPv4 is ip (for --host builds
// that snapshot an existing droplet); nil when no droplet has it.
func (c *Client) FindDropletByIP(ctx context.Context, ip string) (*godo.Droplet, error) {
	ds, err := All(ctx, func(o *godo.ListOptions) ([]godo.Droplet, *godo.Response, error) { return c.godo.Droplets.List(ctx, o) })
	if err != nil {
		return nil, wrap("listing droplets", err)
	}
	for i := range ds {
		if pub, _ := ds[i].PublicIPv4(); pub == ip {
			return &ds[i], nil
		}
	}
	return nil, nil
}

// UntagImage removes a tag from a snapshot; a tag already gone is fine.
func (c *Client) UntagImage(ctx context.Context, imageID int, tag string) error {
	_, err := c.godo.Tags.UntagResources(ctx, tag, &godo.UntagResourcesRequest{Resources: []godo.Resource{{ID: fmt.Sprint(imageID), Type: godo.ImageResourceType}}})
	if err != nil && !isNotFound(err) {
		return wrap(fmt.Sprintf("untagging snapshot %d", imageID), err)
	}
	return nil
}
