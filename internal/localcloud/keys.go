package localcloud

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

type keyJSON struct {
	ID          int    `json:"id"`
	Fingerprint string `json:"fingerprint"`
	PublicKey   string `json:"public_key"`
	Name        string `json:"name"`
}

func (k *sshKey) json() keyJSON {
	return keyJSON{ID: k.id, Fingerprint: k.fp, PublicKey: k.pub, Name: k.name}
}

func (st *state) getAccount(c call) (int, any, error) {
	st.srv.mu.Lock()
	n := 0
	for _, d := range st.droplets {
		if d.team == c.team {
			n++
		}
	}
	st.srv.mu.Unlock()
	team := "team-" + strconv.Itoa(c.team)
	return http.StatusOK, map[string]any{"account": map[string]any{
		"droplet_limit": 25, "floating_ip_limit": 3, "volume_limit": 100,
		"email": team + "@local-cloud.invalid", "name": "Local cloud " + team,
		"uuid": uuidFrom("account/" + team), "email_verified": true,
		"status": "active", "status_message": "",
		"team": map[string]any{"uuid": uuidFrom("team/" + team), "name": team},
	}}, nil
}

// findKey looks a key up by id or MD5 fingerprint; the caller holds srv.mu.
func (st *state) findKey(team int, ident string) *sshKey {
	if id, err := strconv.Atoi(ident); err == nil {
		if k := st.keys[id]; k != nil && k.team == team {
			return k
		}
		return nil
	}
	for _, k := range st.keys {
		if k.team == team && k.fp == ident {
			return k
		}
	}
	return nil
}

func (st *state) sortedKeys(team int) []*sshKey {
	var out []*sshKey
	for _, k := range st.keys {
		if k.team == team {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b *sshKey) int { return a.id - b.id })
	return out
}

func (st *state) listKeys(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	ks := st.sortedKeys(c.team)
	from, to, links, meta, err := st.srv.paginate(c.r, len(ks))
	if err != nil {
		return 0, nil, err
	}
	out := []keyJSON{}
	for _, k := range ks[from:to] {
		out = append(out, k.json())
	}
	return http.StatusOK, map[string]any{"ssh_keys": out, "links": links, "meta": meta}, nil
}

func (st *state) createKey(c call) (int, any, error) {
	var req struct {
		Name      string `json:"name"`
		PublicKey string `json:"public_key"`
	}
	if err := decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(req.Name) == "" {
		return 0, nil, errUnprocessable("Name can't be blank")
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(req.PublicKey))
	if err != nil {
		return 0, nil, errUnprocessable("Key invalid, key should be of the format `type key [comment]`")
	}
	fp := ssh.FingerprintLegacyMD5(pub)
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	for _, k := range st.keys {
		if k.team == c.team && k.fp == fp {
			return 0, nil, errUnprocessable("SSH Key is already in use on your account")
		}
	}
	st.nextKey++
	k := &sshKey{id: st.nextKey, team: c.team, name: req.Name, pub: strings.TrimSpace(req.PublicKey), fp: fp}
	st.keys[k.id] = k
	st.srv.ledger.add(KindKey, strconv.Itoa(k.id), k.name, nil, time.Now())
	st.srv.ledger.setFingerprint(KindKey, strconv.Itoa(k.id), fp)
	return http.StatusCreated, map[string]any{"ssh_key": k.json()}, nil
}

func (st *state) getKey(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	k := st.findKey(c.team, c.r.PathValue("key"))
	if k == nil {
		return 0, nil, errNotFound()
	}
	return http.StatusOK, map[string]any{"ssh_key": k.json()}, nil
}

func (st *state) updateKey(c call) (int, any, error) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	k := st.findKey(c.team, c.r.PathValue("key"))
	if k == nil {
		return 0, nil, errNotFound()
	}
	if strings.TrimSpace(req.Name) == "" {
		return 0, nil, errUnprocessable("Name can't be blank")
	}
	k.name = req.Name
	st.srv.ledger.rename(KindKey, strconv.Itoa(k.id), k.name)
	return http.StatusOK, map[string]any{"ssh_key": k.json()}, nil
}

func (st *state) deleteKey(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	k := st.findKey(c.team, c.r.PathValue("key"))
	if k == nil {
		return 0, nil, errNotFound()
	}
	delete(st.keys, k.id)
	st.srv.ledger.remove(KindKey, strconv.Itoa(k.id), time.Now())
	return http.StatusNoContent, nil, nil
}

func (st *state) listRegions(c call) (int, any, error) {
	from, to, links, meta, err := st.srv.paginate(c.r, len(st.srv.cat.regions))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"regions": st.srv.cat.regions[from:to], "links": links, "meta": meta}, nil
}

func (st *state) listSizes(c call) (int, any, error) {
	from, to, links, meta, err := st.srv.paginate(c.r, len(st.srv.cat.sizes))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"sizes": st.srv.cat.sizes[from:to], "links": links, "meta": meta}, nil
}
