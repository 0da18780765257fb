// Package webhook receives GitHub App webhooks at POST /webhooks/github: it checks
// X-Hub-Signature-256 over the raw body, answers ping, acknowledges events Garo does not
// use, and commits each workflow_job event to the job log (deduplicated on
// X-GitHub-Delivery) before it answers 2xx.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/prometheus/client_golang/prometheus"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/server/store/dberr"
)

// DefaultMaxBody is GitHub's own cap on webhook payloads (25 MB).
const DefaultMaxBody = 25 << 20

// jobLog is the part of the job service the handler needs.
type jobLog interface {
	HandleDelivery(ctx context.Context, d jobs.Delivery, ev jobs.Event) (string, *store.WorkflowJob, error)
}

// pinger tells whether the database answers, to tell an outage from a bug.
type pinger interface {
	Ping(ctx context.Context) error
}

// Config of the webhook receiver.
type Config struct {
	// Secrets are the webhook secrets accepted: per App, the current one first, then a
	// previous one during a rotation. None configured: every delivery is answered 503.
	Secrets [][]byte
	// SecretApps names, by index, the GitHub App whose webhook signs with Secrets[i] (0 or
	// missing: none, a webhook set up by hand). The App of a delivery is logged (app_id)
	// and counted in garo_webhook_app_deliveries_total.
	SecretApps []int64
	MaxBody    int64
}

// Handler is the webhook endpoint.
type Handler struct {
	cfg        Config
	jobs       jobLog
	db         pinger
	log        *slog.Logger
	deliveries *prometheus.CounterVec
	byApp      *prometheus.CounterVec
	latency    prometheus.Histogram
	now        func() time.Time
}

// NewHandler returns the webhook handler; metrics are registered with reg.
func NewHandler(cfg Config, jobs jobLog, db pinger, log *slog.Logger, reg prometheus.Registerer) *Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	h := &Handler{
		cfg: cfg, jobs: jobs, db: db, log: log, now: time.Now,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garo_webhook_deliveries_total",
			Help: "Webhook deliveries received, by event and outcome.",
		}, []string{"event", "outcome"}),
		byApp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garo_webhook_app_deliveries_total",
			Help: "Webhook deliveries whose signature checked, by the GitHub App whose secret signed them (app_id; 0 for a webhook of no App).",
		}, []string{"app_id"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "garo_webhook_answer_duration_seconds",
			Help:    "Time from receiving a webhook to answering it (GitHub gives up after 10 s).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	if reg != nil {
		reg.MustRegister(h.deliveries, h.byApp, h.latency)
	}
	return h
}

// answer is the JSON body of a successful delivery.
type answer struct {
	Status string `json:"status"`
	JobID  int64  `json:"job_id,omitempty"`
	State  string `json:"state,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	event := r.Header.Get("X-GitHub-Event")
	guid := r.Header.Get("X-GitHub-Delivery")
	status, outcome, app := h.serve(w, r, event, guid)
	h.latency.Observe(h.now().Sub(start).Seconds())
	h.deliveries.WithLabelValues(metricEvent(event), outcome).Inc()
	if app >= 0 {
		h.byApp.WithLabelValues(strconv.FormatInt(app, 10)).Inc()
	}
	// An answered delivery is Debug: the access log has it already (http request), the
	// job log its job (job recorded), and thousands a second would drown the log.
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
	} else if status >= 400 {
		level = slog.LevelWarn
	}
	if !h.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []any{"delivery_id", guid, "event", event, "status", status, "outcome", outcome}
	if app >= 0 {
		attrs = append(attrs, "app_id", app)
	}
	h.log.Log(r.Context(), level, "webhook delivery", attrs...)
}

// serve handles one delivery and returns the status it answered, the outcome label and
// the App whose secret signed it (-1 before the signature checked, 0 for no App).
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, event, guid string) (int, string, int64) {
	app := int64(-1)
	status, outcome := h.serveSigned(w, r, event, guid, &app)
	return status, outcome, app
}

// serveSigned is serve; it sets *app once the signature checked.
func (h *Handler) serveSigned(w http.ResponseWriter, r *http.Request, event, guid string, app *int64) (int, string) {
	if len(h.cfg.Secrets) == 0 {
		return writeError(w, http.StatusServiceUnavailable, portalapi.CodeUnavailable,
			"webhooks are not configured on this server: set github.webhook_secret"), "not_configured"
	}
	// Whoever can reach the endpoint may post to it: refuse a delivery that cannot be
	// GitHub's before reading up to MaxBody of it, by its headers alone.
	if _, err := CheckHeader(r.Header.Get("X-Hub-Signature-256"), r.Header.Get("X-Hub-Signature")); err != nil {
		return writeError(w, http.StatusUnauthorized, portalapi.CodeUnauthorized, err.Error()), "bad_signature"
	}
	tooLarge := func() int {
		return writeError(w, http.StatusRequestEntityTooLarge, portalapi.CodeTooLarge,
			fmt.Sprintf("webhook body is larger than %d bytes", h.cfg.MaxBody))
	}
	if r.ContentLength > h.cfg.MaxBody {
		return tooLarge(), "too_large"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	var maxBytes *http.MaxBytesError
	if errors.As(err, &maxBytes) {
		return tooLarge(), "too_large"
	}
	if err != nil {
		return writeError(w, http.StatusBadRequest, portalapi.CodeInvalidRequest, "read webhook body: "+err.Error()), "bad_request"
	}
	i, err := Match(r.Header.Get("X-Hub-Signature-256"), body, h.cfg.Secrets)
	if err != nil {
		return writeError(w, http.StatusUnauthorized, portalapi.CodeUnauthorized, err.Error()), "bad_signature"
	}
	*app = 0
	if i < len(h.cfg.SecretApps) {
		*app = h.cfg.SecretApps[i]
	}
	if event == "" || guid == "" {
		return writeError(w, http.StatusBadRequest, portalapi.CodeInvalidRequest,
			"X-GitHub-Event and X-GitHub-Delivery headers are required"), "bad_request"
	}
	switch event {
	case "ping":
		return writeJSON(w, http.StatusOK, answer{Status: "pong"}), "pong"
	case "workflow_job":
	default:
		return writeJSON(w, http.StatusOK, answer{Status: "ignored"}), "ignored"
	}
	ev, err := parseWorkflowJob(body)
	if err != nil {
		return writeError(w, http.StatusBadRequest, portalapi.CodeInvalidRequest, err.Error()), "bad_request"
	}
	if !jobs.KnownAction(ev.Action) {
		return writeJSON(w, http.StatusOK, answer{Status: "ignored"}), "ignored"
	}
	outcome, job, err := h.jobs.HandleDelivery(r.Context(), jobs.Delivery{GUID: guid, Event: event, Action: ev.Action}, ev)
	if errors.Is(err, jobs.ErrInvalidEvent) {
		return writeError(w, http.StatusBadRequest, portalapi.CodeInvalidRequest, err.Error()), "bad_request"
	}
	if err != nil {
		if dberr.Unavailable(err) || h.databaseDown(r.Context()) {
			w.Header().Set("Retry-After", "5")
			return writeError(w, http.StatusServiceUnavailable, portalapi.CodeUnavailable, "the database is unreachable; the delivery was not recorded"), "unavailable"
		}
		h.log.Error("webhook delivery failed", "delivery_id", guid, "job_id", ev.JobID, "repo", ev.Owner+"/"+ev.Repo, "err", err)
		return writeError(w, http.StatusInternalServerError, portalapi.CodeInternal, "the delivery was not recorded: internal error"), "error"
	}
	a := answer{Status: outcome}
	if job != nil {
		a.JobID, a.State = job.ID, job.State
	}
	return writeJSON(w, http.StatusOK, a), outcome
}

func (h *Handler) databaseDown(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	return h.db.Ping(ctx) != nil
}

// workflowJobPayload is what Garo reads of a workflow_job payload (GitHub's webhook
// schema, as go-github's WorkflowJobEvent spells it): decoding only these fields spares
// the rest of the payload (repository, sender, installation: most of its bytes) the
// allocations of go-github's structs.
type workflowJobPayload struct {
	Action      *string `json:"action"`
	WorkflowJob *struct {
		ID              *int64            `json:"id"`
		RunID           int64             `json:"run_id"`
		Status          string            `json:"status"`
		Conclusion      string            `json:"conclusion"`
		Name            string            `json:"name"`
		WorkflowName    string            `json:"workflow_name"`
		Labels          *[]string         `json:"labels"`
		RunnerID        int64             `json:"runner_id"`
		RunnerName      string            `json:"runner_name"`
		RunnerGroupName string            `json:"runner_group_name"`
		HTMLURL         string            `json:"html_url"`
		CreatedAt       *github.Timestamp `json:"created_at"`
	} `json:"workflow_job"`
	Repository *struct {
		Name     string `json:"name"`
		FullName string `json:"full_name"`
		Owner    struct {
			Login string `json:"login"`
		} `json:"owner"`
	} `json:"repository"`
}

// parseWorkflowJob reads a workflow_job payload into a job event.
func parseWorkflowJob(body []byte) (jobs.Event, error) {
	var p workflowJobPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return jobs.Event{}, fmt.Errorf("workflow_job payload is not valid JSON: %w", err)
	}
	j, repo := p.WorkflowJob, p.Repository
	if p.Action == nil || j == nil || j.ID == nil || repo == nil {
		return jobs.Event{}, errors.New("workflow_job payload lacks action, workflow_job.id or repository")
	}
	if *j.ID <= 0 {
		return jobs.Event{}, fmt.Errorf("workflow_job.id must be positive, got %d", *j.ID)
	}
	// GitHub's schema requires workflow_job.labels, an array of strings. null (or no
	// labels at all) is refused: stored as [], it would match every policy.
	if j.Labels == nil {
		return jobs.Event{}, errors.New("workflow_job.labels must be an array of strings, got null or nothing")
	}
	labels := *j.Labels // [] as sent (never nil): a job asking for no label
	owner, name, ok := strings.Cut(repo.FullName, "/")
	if !ok {
		owner, name = repo.Owner.Login, repo.Name
	}
	if owner == "" || name == "" {
		return jobs.Event{}, errors.New("workflow_job payload lacks repository.full_name")
	}
	var created time.Time
	if j.CreatedAt != nil {
		created = j.CreatedAt.Time
	}
	return jobs.Event{
		Action: *p.Action, Status: j.Status, JobID: *j.ID, RunID: j.RunID, Owner: owner, Repo: name,
		Name: j.Name, WorkflowName: j.WorkflowName, Labels: labels, RunnerGroup: j.RunnerGroupName, Conclusion: j.Conclusion,
		RunnerName: j.RunnerName, RunnerID: j.RunnerID, HTMLURL: j.HTMLURL,
		CreatedAt: created, Source: jobs.SourceWebhook,
	}, nil
}

// metricEvent keeps the event label's cardinality bounded.
func metricEvent(event string) string {
	switch event {
	case "workflow_job", "ping":
		return event
	case "":
		return "none"
	}
	return "other"
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

func writeError(w http.ResponseWriter, status int, code, msg string) int {
	return writeJSON(w, status, portalapi.ErrorBody{Error: portalapi.ErrorDetail{Code: code, Message: msg}})
}
