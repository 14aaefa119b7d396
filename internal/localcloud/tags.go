package localcloud

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"
)

var (
	errTransferFault = errors.New("transfer failed (fault injected)")
	errImageGone     = errors.New("the image was deleted during the transfer")
)

// ensureTag creates a tag if team lacks it; the caller holds srv.mu.
func (st *state) ensureTag(team int, name string, at time.Time) {
	k := tagKey{team, name}
	if st.tags[k] {
		return
	}
	st.tags[k] = true
	st.srv.ledger.add(KindTag, name, name, nil, at)
}

type tagCount struct {
	Count         int    `json:"count"`
	LastTaggedURI string `json:"last_tagged_uri"`
}

// tagJSON counts what carries the tag; the caller holds srv.mu.
func (st *state) tagJSON(team int, name string) map[string]any {
	var drops, ims tagCount
	for _, d := range st.teamDroplets(team, name, "") {
		drops.Count++
		drops.LastTaggedURI = st.srv.URL() + "v2/droplets/" + strconv.Itoa(d.id)
	}
	for _, im := range st.teamImages(team, "", true, name) {
		ims.Count++
		ims.LastTaggedURI = st.srv.URL() + "v2/images/" + strconv.Itoa(im.id)
	}
	last := drops.LastTaggedURI
	if last == "" {
		last = ims.LastTaggedURI
	}
	return map[string]any{"name": name, "resources": map[string]any{
		"count": drops.Count + ims.Count, "last_tagged_uri": last,
		"droplets": drops, "imgages": ims, "volumes": tagCount{}, "volume_snapshots": tagCount{}, "databases": tagCount{},
	}}
}

func (st *state) listTags(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	var names []string
	for k := range st.tags {
		if k.team == c.team {
			names = append(names, k.name)
		}
	}
	slices.Sort(names)
	from, to, links, meta, err := st.srv.paginate(c.r, len(names))
	if err != nil {
		return 0, nil, err
	}
	out := []map[string]any{}
	for _, n := range names[from:to] {
		out = append(out, st.tagJSON(c.team, n))
	}
	return http.StatusOK, map[string]any{"tags": out, "links": links, "meta": meta}, nil
}

func (st *state) createTag(c call) (int, any, error) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	if !tagRE.MatchString(req.Name) || len(req.Name) > 255 {
		return 0, nil, errUnprocessable("Tag names may only contain letters, numbers, colons, dashes, and underscores.")
	}
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	st.ensureTag(c.team, req.Name, time.Now())
	return http.StatusCreated, map[string]any{"tag": st.tagJSON(c.team, req.Name)}, nil
}

func (st *state) tagName(c call) (string, error) {
	name := c.r.PathValue("name")
	if !st.tags[tagKey{c.team, name}] {
		return "", errNotFound()
	}
	return name, nil
}

func (st *state) getTag(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	name, err := st.tagName(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"tag": st.tagJSON(c.team, name)}, nil
}

func (st *state) deleteTag(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	name, err := st.tagName(c)
	if err != nil {
		return 0, nil, err
	}
	for _, d := range st.teamDroplets(c.team, name, "") {
		st.setDropletTags(d, slices.DeleteFunc(slices.Clone(d.tags), func(t string) bool { return t == name }))
	}
	for _, im := range st.teamImages(c.team, "", true, name) {
		im.tags = slices.DeleteFunc(im.tags, func(t string) bool { return t == name })
	}
	delete(st.tags, tagKey{c.team, name})
	st.srv.ledger.remove(KindTag, name, time.Now())
	return http.StatusNoContent, nil, nil
}

func (st *state) setDropletTags(d *droplet, tags []string) {
	d.tags = tags
	st.srv.ledger.setTags(KindDroplet, strconv.Itoa(d.id), tags)
}

func (st *state) tagResources(c call) (int, any, error)   { return st.retag(c, true) }
func (st *state) untagResources(c call) (int, any, error) { return st.retag(c, false) }

// retag adds or removes a tag on the resources listed in the body.
func (st *state) retag(c call, add bool) (int, any, error) {
	var req struct {
		Resources []struct {
			ID   string `json:"resource_id"`
			Type string `json:"resource_type"`
		} `json:"resources"`
	}
	if err := decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Resources) == 0 {
		return 0, nil, errUnprocessable("resources is required.")
	}
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	name, err := st.tagName(c)
	if err != nil {
		return 0, nil, err
	}
	// Validate everything first so a bad entry changes nothing.
	var ds []*droplet
	var ims []*image
	for _, r := range req.Resources {
		id, err := strconv.Atoi(r.ID)
		if err != nil {
			return 0, nil, errNotFound()
		}
		switch r.Type {
		case "droplet":
			d := st.droplets[id]
			if d == nil || d.team != c.team {
				return 0, nil, errNotFound()
			}
			ds = append(ds, d)
		case "image":
			im := st.images[id]
			if im == nil || im.team != c.team {
				return 0, nil, errNotFound()
			}
			ims = append(ims, im)
		case "volume", "volume_snapshot":
			return 0, nil, errUnprocessable("The local cloud has no %ss.", r.Type)
		default:
			return 0, nil, errUnprocessable("%q is not a valid resource_type.", r.Type)
		}
	}
	edit := func(tags []string) []string {
		tags = slices.DeleteFunc(slices.Clone(tags), func(t string) bool { return t == name })
		if add {
			tags = append(tags, name)
		}
		return tags
	}
	for _, d := range ds {
		st.setDropletTags(d, edit(d.tags))
	}
	for _, im := range ims {
		im.tags = edit(im.tags)
		st.srv.ledger.setTags(KindSnapshot, strconv.Itoa(im.id), im.tags)
	}
	return http.StatusNoContent, nil, nil
}
