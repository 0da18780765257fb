package githubsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Delivery is one attempt to deliver a webhook, as GitHub records it. StatusCode is the
// receiver's answer, 0 when there was none (not sent, or no connection).
type Delivery struct {
	ID             int64
	GUID           string
	Event          string
	Action         string
	StatusCode     int
	Redelivery     bool
	DeliveredAt    time.Time
	Payload        []byte
	Status         string // GitHub's words: "OK", "Invalid HTTP Response: 500", ...
	Duration       time.Duration
	InstallationID int64
	RepositoryID   int64
	AppID          int64 // the App whose webhook delivered it
}

// deliveryRecord is a Delivery with what the delivery API shows of request and response.
type deliveryRecord struct {
	Delivery
	app         *simApp
	url         string
	reqHeaders  map[string]string
	respHeaders map[string]string
	respBody    string
}

// maxResponseBody is how much of a receiver's answer a delivery keeps.
const maxResponseBody = 64 << 10

// SendWebhook delivers an arbitrary payload as event (tests use it for ping and for
// GitHub's published examples). The error is non-nil when the payload is not JSON, or
// when no answer came back (ErrDeliveryFailed); a non-2xx answer is recorded, not an
// error. The delivery is recorded either way.
func (s *Sim) SendWebhook(ctx context.Context, event string, payload []byte) (Delivery, error) {
	return s.deliver(ctx, event, payload, newGUID(), false)
}

// Deliveries returns every delivery attempt, oldest first.
func (s *Sim) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliveriesLocked()
}

func (s *Sim) deliveriesLocked() []Delivery {
	out := make([]Delivery, 0, len(s.deliveries))
	for _, d := range s.deliveries {
		dd := d.Delivery
		dd.Payload = slices.Clone(d.Payload)
		out = append(out, dd)
	}
	slices.SortFunc(out, func(a, b Delivery) int { return cmpInt64(a.ID, b.ID) })
	return out
}

// WaitDeliveries waits until at least n deliveries were recorded and returns them all,
// oldest first; redeliveries through the API happen in the background, so tests wait
// for them here.
func (s *Sim) WaitDeliveries(ctx context.Context, n int) ([]Delivery, error) {
	for {
		s.mu.Lock()
		if len(s.deliveries) >= n {
			defer s.mu.Unlock()
			return s.deliveriesLocked(), nil
		}
		ch := s.delivered
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return s.Deliveries(), fmt.Errorf("wait for %d deliveries: %w", n, ctx.Err())
		}
	}
}

// LoseJobWebhooks makes GitHub lose every workflow_job delivery with action from now on
// (never sent, not in the deliveries listing, so no redelivery can bring it back), until
// called with "": a delivery that never reached the receiver and that redelivery cannot
// bring back ("GitHub does not automatically redeliver failed deliveries", and only those
// "that occurred in the past 3 days" can be redelivered,
// https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks;
// a repository webhook's deliveries are not in the App's listing at all). Only
// reconciliation with the REST API repairs such a loss.
func (s *Sim) LoseJobWebhooks(action string) { s.LoseJobWebhooksFor(action, 0) }

// LoseJobWebhooksFor is LoseJobWebhooks for a window of d from now (0: until called
// again); it returns when the window ends (zero without one).
func (s *Sim) LoseJobWebhooksFor(action string, d time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose, s.loseUntil = action, time.Time{}
	if d > 0 {
		s.loseUntil = s.opts.Now().Add(d)
	}
	return s.loseUntil
}

func (s *Sim) losing(action string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lose != "" && s.lose == action && (s.loseUntil.IsZero() || s.opts.Now().Before(s.loseUntil))
}

// deliver POSTs payload to the webhook URL once, signed as GitHub signs it, and records
// the attempt. It never retries: GitHub does not either. The App whose installation the
// payload names delivers it (the first App when it names none the sim knows); when
// several Apps are installed on that installation's owner, every one of them delivers the
// event through its own webhook, with its own installation in the payload, its own GUID
// and signature, as each App subscribed to the event gets it ("Webhooks for GitHub Apps":
// an App receives the events it subscribed to on the accounts it is installed on,
// https://docs.github.com/en/apps/creating-github-apps/registering-a-github-app/using-webhooks-with-github-apps).
// A redelivery is sent again by the App that delivered it only. The answer is the first
// App's delivery; errors of all are joined.
func (s *Sim) deliver(ctx context.Context, event string, payload []byte, guid string, redelivery bool) (Delivery, error) {
	var meta struct {
		Installation *struct {
			ID int64 `json:"id"`
		} `json:"installation"`
	}
	if err := json.Unmarshal(payload, &meta); err != nil {
		return Delivery{}, fmt.Errorf("deliver %s: payload is not a JSON object: %w", event, err)
	}
	app := s.apps[0]
	var others []*installState
	if meta.Installation != nil {
		s.mu.Lock()
		if in := s.installations[meta.Installation.ID]; in != nil {
			app = in.app
			if !redelivery {
				for _, o := range in.owner.installs {
					if o != in {
						others = append(others, o)
					}
				}
			}
		}
		s.mu.Unlock()
	}
	out, err := s.deliverAs(ctx, app, event, payload, guid, redelivery)
	errs := []error{err}
	for _, in := range others {
		p, perr := withInstallation(payload, in)
		if perr != nil {
			errs = append(errs, perr)
			continue
		}
		_, err := s.deliverAs(ctx, in.app, event, p, newGUID(), false)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// withInstallation returns payload with its installation replaced by in.
func withInstallation(payload []byte, in *installState) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return nil, fmt.Errorf("payload is not a JSON object: %w", err)
	}
	lite, err := marshal(installationLite{ID: in.id, NodeID: nodeID("IntegrationInstallation", in.id)})
	if err != nil {
		return nil, err
	}
	fields["installation"] = lite
	return marshal(fields)
}

// deliverAs is deliver through the webhook of app alone.
func (s *Sim) deliverAs(ctx context.Context, app *simApp, event string, payload []byte, guid string, redelivery bool) (Delivery, error) {
	var meta struct {
		Action       *string `json:"action"`
		Organization *struct {
			ID int64 `json:"id"`
		} `json:"organization"`
		Installation *struct {
			ID int64 `json:"id"`
		} `json:"installation"`
		Repository *struct {
			ID int64 `json:"id"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(payload, &meta); err != nil {
		return Delivery{}, fmt.Errorf("deliver %s: payload is not a JSON object: %w", event, err)
	}
	s.mu.Lock()
	id := s.nextID("delivery")
	s.mu.Unlock()

	rec := &deliveryRecord{
		Delivery: Delivery{
			ID:          id,
			GUID:        guid,
			Event:       event,
			Redelivery:  redelivery,
			DeliveredAt: s.opts.Now().UTC().Truncate(time.Second),
			Payload:     slices.Clone(payload),
			AppID:       app.id,
		},
		app:         app,
		url:         s.opts.WebhookURL,
		respHeaders: map[string]string{},
	}
	if meta.Action != nil {
		rec.Action = *meta.Action
	}
	if event == "workflow_job" && s.losing(rec.Action) {
		s.log.Info("webhook lost", "delivery_id", guid, "event", event, "action", rec.Action)
		return Delivery{GUID: guid, Event: event, Action: rec.Action}, nil
	}
	if meta.Installation != nil {
		rec.InstallationID = meta.Installation.ID
	}
	if meta.Repository != nil {
		rec.RepositoryID = meta.Repository.ID
	}
	targetID := app.id
	switch s.opts.HookTarget {
	case "repository":
		targetID = rec.RepositoryID
	case "organization":
		if meta.Organization != nil {
			targetID = meta.Organization.ID
		}
	}
	rec.reqHeaders = s.hookHeaders(app, event, guid, targetID, payload)

	var sendErr error
	if s.opts.WebhookURL == "" {
		rec.Status = "not sent: no webhook URL configured"
	} else {
		sendErr = s.post(ctx, rec, payload)
	}
	s.mu.Lock()
	s.deliveries[rec.ID] = rec
	close(s.delivered)
	s.delivered = make(chan struct{})
	s.mu.Unlock()
	s.log.Info("webhook delivered", "app_id", app.id, "delivery_id", guid, "hook_delivery_id", rec.ID, "event", event, "action", rec.Action,
		"status", rec.StatusCode, "redelivery", redelivery)
	out := rec.Delivery
	out.Payload = slices.Clone(payload)
	if sendErr != nil {
		return out, fmt.Errorf("deliver %s %s: %w: %v", event, guid, ErrDeliveryFailed, sendErr)
	}
	return out, nil
}

// hookTargetType is X-GitHub-Hook-Installation-Target-Type: "integration" for the App's
// webhook, "repository" or "organization" for a webhook of the repository or of its
// organization (https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers:
// "X-GitHub-Hook-Installation-Target-Type: The type of resource where the webhook was
// created"; X-GitHub-Hook-Installation-Target-ID its id).
func (s *Sim) hookTargetType() string {
	if s.opts.HookTarget == "" {
		return "integration"
	}
	return s.opts.HookTarget
}

// hookHeaders are the headers GitHub sends with a delivery of app's webhook.
func (s *Sim) hookHeaders(app *simApp, event, guid string, targetID int64, payload []byte) map[string]string {
	h := map[string]string{
		"Accept":                                 "*/*",
		"Content-Type":                           "application/json",
		"User-Agent":                             "GitHub-Hookshot/" + s.hookshot,
		"X-GitHub-Delivery":                      guid,
		"X-GitHub-Event":                         event,
		"X-GitHub-Hook-ID":                       strconv.FormatInt(app.hookID, 10),
		"X-GitHub-Hook-Installation-Target-ID":   strconv.FormatInt(targetID, 10),
		"X-GitHub-Hook-Installation-Target-Type": s.hookTargetType(),
	}
	if app.secret != "" {
		h["X-Hub-Signature"] = "sha1=" + Sign(sha1.New, app.secret, payload)
		h["X-Hub-Signature-256"] = "sha256=" + Sign(sha256.New, app.secret, payload)
	}
	return h
}

// Sign returns the hex HMAC of body with secret, as in X-Hub-Signature-256 (with
// sha256.New) after "sha256=".
func Sign(newHash func() hash.Hash, secret string, body []byte) string {
	m := hmac.New(newHash, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Sim) post(ctx context.Context, rec *deliveryRecord, payload []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rec.url, bytes.NewReader(payload))
	if err != nil {
		rec.Status = "invalid webhook URL"
		return err
	}
	for k, v := range rec.reqHeaders {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	rec.Duration = time.Since(start)
	if err != nil {
		rec.Status = "failed to connect to host"
		var te interface{ Timeout() bool }
		if errors.As(err, &te) && te.Timeout() {
			rec.Status = "timed out"
		}
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	rec.StatusCode = resp.StatusCode
	rec.respBody = string(body)
	for k := range resp.Header {
		rec.respHeaders[k] = resp.Header.Get(k)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		rec.Status = "OK"
	} else {
		rec.Status = fmt.Sprintf("Invalid HTTP Response: %d", resp.StatusCode)
	}
	return nil
}

// redeliverAsync re-sends delivery id with its GUID in the background, as GitHub does
// after POST .../attempts; false when there is no such delivery.
func (s *Sim) redeliverAsync(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deliveries[id]
	if !ok {
		return false
	}
	if s.ctx.Err() != nil {
		return true // closed: accepted, never sent, like a GitHub outage
	}
	app, event, guid, payload := d.app, d.Event, d.GUID, slices.Clone(d.Payload)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if _, err := s.deliverAs(s.ctx, app, event, payload, guid, true); err != nil {
			s.log.Info("redelivery not answered", "delivery_id", guid, "hook_delivery_id", id, "err", err)
		}
	}()
	return true
}

// jobEvent builds the workflow_job payload of job id as it is now.
func (s *Sim) jobEvent(id int64, action string) ([]byte, Job) {
	s.mu.Lock()
	js := s.jobs[id]
	repo := js.run.repo
	in := repo.owner.installs[0] // the first App's; deliver sends the others' too
	ev := workflowJobEvent{
		Action:       action,
		WorkflowJob:  s.jobJSONLocked(js),
		Repository:   s.repoJSON(repo),
		Organization: s.orgJSON(repo.owner),
		Sender:       s.simUser(),
	}
	// "installation": only in deliveries to a GitHub App ("The GitHub App installation.
	// Webhook payloads contain the installation property when the event is configured for
	// and sent to a GitHub App", the installation property of GitHub's webhook payloads:
	// https://docs.github.com/en/webhooks/webhook-events-and-payloads#workflow_job).
	if s.hookTargetType() == "integration" {
		ev.Installation = &installationLite{ID: in.id, NodeID: nodeID("IntegrationInstallation", in.id)}
	}
	job := js.public()
	s.mu.Unlock()
	payload, err := marshal(ev)
	if err != nil {
		panic(fmt.Sprintf("githubsim: encode workflow_job: %v", err)) // plain structs always encode
	}
	return payload, job
}

// deliverJob sends workflow_job action for job id with the sim's lifetime context, so
// that a runner hanging up does not cut a delivery short.
func (s *Sim) deliverJob(id int64, action string) {
	payload, _ := s.jobEvent(id, action)
	if _, err := s.deliver(s.ctx, "workflow_job", payload, newGUID(), false); err != nil {
		s.log.Info("webhook not answered", "job_id", id, "action", action, "err", err)
	}
}
