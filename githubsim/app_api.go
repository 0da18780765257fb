package githubsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Handlers of the routes a GitHub App calls with its JWT.

// Each App sees its own installations and its own webhook's deliveries only: what belongs
// to another App is not found (404), as on GitHub, where an App's JWT reaches its own.

func (s *Sim) getApp(c *call) {
	writeJSON(c.w, http.StatusOK, s.appJSON(c.who.app, len(s.installationsOf(c.who.app))))
}

// installationsOf returns the installations of app.
func (s *Sim) installationsOf(app *simApp) []*installState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*installState
	for _, in := range s.installations {
		if in.app == app {
			all = append(all, in)
		}
	}
	return all
}

func (s *Sim) listInstallations(c *call) {
	all := s.installationsOf(c.who.app)
	slices.SortFunc(all, func(a, b *installState) int { return cmpInt64(a.id, b.id) })
	from, to := s.page(c, len(all))
	out := make([]installationJSON, 0, to-from)
	for _, in := range all[from:to] {
		out = append(out, s.installationJSON(in))
	}
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Sim) installationByParam(c *call) (*installState, bool) {
	id, ok := c.int64Param("installation_id")
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.installations[id]
	return in, ok && in.app == c.who.app
}

func (s *Sim) getInstallation(c *call) {
	in, ok := s.installationByParam(c)
	if !ok {
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	}
	writeJSON(c.w, http.StatusOK, s.installationJSON(in))
}

// getRepoInstallation answers the calling App's installation on the repository's owner;
// 404 when that App is not installed there ("Get a repository installation for the
// authenticated app", https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app).
func (s *Sim) getRepoInstallation(c *call) {
	s.mu.Lock()
	in := c.repo.owner.installOf(c.who.app)
	s.mu.Unlock()
	if in == nil {
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	}
	writeJSON(c.w, http.StatusOK, s.installationJSON(in))
}

type accessTokenJSON struct {
	Token               string            `json:"token"`
	ExpiresAt           string            `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
	Repositories        []repoJSON        `json:"repositories,omitempty"`
}

func (s *Sim) createAccessToken(c *call) {
	in, ok := s.installationByParam(c)
	if !ok {
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	}
	var body struct {
		Repositories  []string          `json:"repositories"`
		RepositoryIDs []int64           `json:"repository_ids"`
		Permissions   map[string]string `json:"permissions"`
	}
	if !s.decodeBody(c, &body) {
		return
	}
	perms := installationPermissions
	if len(body.Permissions) > 0 {
		for k, v := range body.Permissions {
			if !permits(installationPermissions[k], v) {
				s.writeError(c, http.StatusUnprocessableEntity, "The permissions requested are not granted to this installation.", c.doc())
				return
			}
		}
		perms = body.Permissions
	}

	s.mu.Lock()
	var selected []*repoState
	for _, name := range body.Repositories {
		r, ok := s.repoLocked(in.owner.login + "/" + name)
		if !ok {
			s.mu.Unlock()
			s.writeError(c, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.", c.doc())
			return
		}
		selected = append(selected, r)
	}
	for _, id := range body.RepositoryIDs {
		var found *repoState
		for _, r := range s.repos {
			if r.id == id && r.owner == in.owner {
				found = r
			}
		}
		if found == nil {
			s.mu.Unlock()
			s.writeError(c, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.", c.doc())
			return
		}
		selected = append(selected, found)
	}
	now := s.opts.Now()
	for k, t := range s.tokens { // forget tokens that can no longer be used
		if !now.Before(t.expires) {
			delete(s.tokens, k)
		}
	}
	t := &tokenState{installationID: in.id, permissions: perms, expires: now.Add(tokenLifetime).UTC().Truncate(time.Second)}
	if selected != nil {
		t.repoIDs = map[int64]bool{}
		for _, r := range selected {
			t.repoIDs[r.id] = true
		}
	}
	token := "ghs_" + randomAlnum(36)
	s.tokens[token] = t
	s.mu.Unlock()

	out := accessTokenJSON{Token: token, ExpiresAt: ts(t.expires), Permissions: perms, RepositorySelection: "all"}
	if selected != nil {
		out.RepositorySelection = "selected"
		slices.SortFunc(selected, func(a, b *repoState) int { return cmpInt64(a.id, b.id) })
		selected = slices.Compact(selected)
		for _, r := range selected {
			out.Repositories = append(out.Repositories, s.repoJSON(r))
		}
	}
	s.log.Info("installation token created", "installation_id", in.id, "expires_at", out.ExpiresAt)
	writeJSON(c.w, http.StatusCreated, out)
}

// Webhook deliveries of the App.

type deliveryItemJSON struct {
	ID             int64   `json:"id"`
	GUID           string  `json:"guid"`
	DeliveredAt    string  `json:"delivered_at"`
	Redelivery     bool    `json:"redelivery"`
	Duration       float64 `json:"duration"`
	Status         string  `json:"status"`
	StatusCode     int     `json:"status_code"`
	Event          string  `json:"event"`
	Action         *string `json:"action"`
	InstallationID *int64  `json:"installation_id"`
	RepositoryID   *int64  `json:"repository_id"`
	ThrottledAt    *string `json:"throttled_at"`
}

type deliveryJSON struct {
	deliveryItemJSON
	URL     string `json:"url"`
	Request struct {
		Headers map[string]string `json:"headers"`
		Payload json.RawMessage   `json:"payload"`
	} `json:"request"`
	Response struct {
		Headers map[string]string `json:"headers"`
		Payload *string           `json:"payload"`
	} `json:"response"`
}

func deliveryItem(d *deliveryRecord) deliveryItemJSON {
	out := deliveryItemJSON{
		ID:          d.ID,
		GUID:        d.GUID,
		DeliveredAt: ts(d.DeliveredAt),
		Redelivery:  d.Redelivery,
		Duration:    float64(d.Duration.Milliseconds()) / 1000,
		Status:      d.Status,
		StatusCode:  d.StatusCode,
		Event:       d.Event,
	}
	if d.Action != "" {
		out.Action = ptr(d.Action)
	}
	if d.InstallationID != 0 {
		out.InstallationID = ptr(d.InstallationID)
	}
	if d.RepositoryID != 0 {
		out.RepositoryID = ptr(d.RepositoryID)
	}
	return out
}

// deliveryCursorPrefix starts the opaque cursors of the deliveries listing, like GitHub's.
const deliveryCursorPrefix = "v1_"

func (s *Sim) listDeliveries(c *call) {
	q := c.r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	var before int64 // only deliveries older than the cursor
	if cur := q.Get("cursor"); cur != "" {
		v, err := strconv.ParseInt(strings.TrimPrefix(cur, deliveryCursorPrefix), 10, 64)
		if err != nil || !strings.HasPrefix(cur, deliveryCursorPrefix) {
			s.writeError(c, http.StatusBadRequest, "Invalid cursor", c.doc())
			return
		}
		before = v
	}
	status := q.Get("status")
	if status != "" && status != "success" && status != "failure" {
		s.writeError(c, http.StatusUnprocessableEntity, "Validation Failed: status must be success or failure", c.doc())
		return
	}
	s.mu.Lock()
	var all []deliveryItemJSON
	for _, d := range s.deliveries {
		if (before != 0 && d.ID >= before) || d.app != c.who.app {
			continue
		}
		ok := d.StatusCode >= 200 && d.StatusCode < 300
		if (status == "success" && !ok) || (status == "failure" && ok) {
			continue
		}
		all = append(all, deliveryItem(d))
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b deliveryItemJSON) int { return cmpInt64(b.ID, a.ID) }) // newest first
	if len(all) > perPage {
		all = all[:perPage]
		q2 := c.r.URL.Query()
		q2.Set("per_page", strconv.Itoa(perPage))
		q2.Set("cursor", fmt.Sprintf("%s%d", deliveryCursorPrefix, all[len(all)-1].ID))
		c.w.Header().Set("Link", fmt.Sprintf("<%s%s?%s>; rel=\"next\"", s.publicRoot(c.r), c.r.URL.Path, q2.Encode()))
	}
	if all == nil {
		all = []deliveryItemJSON{}
	}
	writeJSON(c.w, http.StatusOK, all)
}

func (s *Sim) deliveryByParam(c *call) (*deliveryRecord, bool) {
	id, ok := c.int64Param("delivery_id")
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deliveries[id]
	return d, ok && d.app == c.who.app
}

func (s *Sim) getDelivery(c *call) {
	d, ok := s.deliveryByParam(c)
	if !ok {
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	}
	out := deliveryJSON{deliveryItemJSON: deliveryItem(d), URL: d.url}
	out.Request.Headers = d.reqHeaders
	out.Request.Payload = json.RawMessage(d.Payload)
	out.Response.Headers = d.respHeaders
	if d.StatusCode != 0 {
		out.Response.Payload = ptr(d.respBody)
	}
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Sim) redeliver(c *call) {
	d, ok := s.deliveryByParam(c)
	if !ok || !s.redeliverAsync(d.ID) {
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	}
	writeJSON(c.w, http.StatusAccepted, struct{}{})
}
