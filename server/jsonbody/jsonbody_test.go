package jsonbody_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/jsonbody"
)

func TestDecodeValid(t *testing.T) {
	t.Parallel()
	body := `{
		"name": "linux-small",
		"labels": ["self-hosted", "linux"],
		"min_idle": 1,
		"max_runners": 5,
		"ephemeral": false,
		"idle_grace": "90s",
		"bootstrap_timeout": "1h30m",
		"provider": "kubernetes",
		"runner": {
			"image": "ghcr.io/actions/actions-runner:2.320.0",
			"cpu": "500m",
			"env": {"A": "1"},
			"kubernetes": {"tolerations": [{"key": "gpu", "toleration_seconds": 30}]}
		}
	}
	`
	var req portalapi.PolicyRequest
	if err := jsonbody.Decode(strings.NewReader(body), &req); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	switch {
	case req.Name != "linux-small", len(req.Labels) != 2, req.Labels[1] != "linux", req.MinIdle != 1, req.MaxRunners != 5:
		t.Errorf("scalars decoded wrong: %+v", req)
	case req.Ephemeral == nil || *req.Ephemeral:
		t.Errorf("ephemeral = %v, want false", req.Ephemeral)
	case req.IdleGrace == nil || req.IdleGrace.D() != 90*time.Second:
		t.Errorf("idle_grace = %v, want 90s", req.IdleGrace)
	case req.BootstrapTimeout == nil || req.BootstrapTimeout.D() != 90*time.Minute:
		t.Errorf("bootstrap_timeout = %v, want 1h30m", req.BootstrapTimeout)
	case req.Enabled != nil:
		t.Errorf("enabled = %v, want nil (left out)", *req.Enabled)
	case req.Runner.CPU != "500m", req.Runner.Env["A"] != "1":
		t.Errorf("runner decoded wrong: %+v", req.Runner)
	case req.Runner.Kubernetes == nil || len(req.Runner.Kubernetes.Tolerations) != 1 ||
		req.Runner.Kubernetes.Tolerations[0].TolerationSeconds == nil || *req.Runner.Kubernetes.Tolerations[0].TolerationSeconds != 30:
		t.Errorf("runner.kubernetes decoded wrong: %+v", req.Runner.Kubernetes)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		field   string
		message string // a part of the message
	}{
		{"nested wrong type", `{"runner":{"cpu":2}}`, "runner.cpu", "must be a string, got number"},
		{"top-level wrong type", `{"min_idle":"3"}`, "min_idle", "must be a number, got string"},
		{"bool wrong type", `{"enabled":"yes"}`, "enabled", "must be true or false"},
		{"array wrong type", `{"labels":"linux"}`, "labels", "must be an array"},
		{"object wrong type", `{"runner":"ubuntu"}`, "runner", "must be an object"},
		{"map wrong type", `{"runner":{"env":["A=1"]}}`, "runner.env", "must be an object"},
		{"deeply nested wrong type", `{"runner":{"kubernetes":{"namespace":7}}}`, "runner.kubernetes.namespace", "must be a string"},
		{"bad duration", `{"idle_grace":"5 minutes"}`, "idle_grace", `must be a duration string such as "5m" or "90s"`},
		{"duration as a number", `{"idle_grace":300}`, "idle_grace", "must be a duration string"},
		{"bad second duration", `{"bootstrap_timeout":"10"}`, "bootstrap_timeout", "must be a duration string"},
		{"unknown field", `{"name":"x","colour":"red"}`, "colour", "is not a known field"},
		{"whole body of the wrong type", `["linux"]`, "body", "must be an object, got array"},
		{"syntax error", `{"name": }`, "body", "is not valid JSON at byte"},
		{"single quotes", `{'name': 'x'}`, "body", "is not valid JSON"},
		{"truncated", `{"name":"x"`, "body", "ends before the JSON value does"},
		{"empty body", ``, "body", "is empty"},
		{"blank body", " \n\t", "body", "is empty"},
		{"two values", `{} {}`, "body", "must hold a single JSON value"},
		{"trailing garbage", `{"name":"x"} trailing`, "body", "must hold a single JSON value"},
		{"trailing bracket", `{}]`, "body", "must hold a single JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var req portalapi.PolicyRequest
			err := jsonbody.Decode(strings.NewReader(tt.body), &req)
			if err == nil {
				t.Fatalf("Decode(%q) = nil, want an error on %s", tt.body, tt.field)
			}
			var fe portalapi.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode(%q) error %v (%T) is not a portalapi.FieldError", tt.body, err, err)
			}
			if fe.Field != tt.field {
				t.Errorf("Decode(%q) field = %q, want %q (message %q)", tt.body, fe.Field, tt.field, fe.Message)
			}
			if !strings.Contains(fe.Message, tt.message) {
				t.Errorf("Decode(%q) message = %q, want it to contain %q", tt.body, fe.Message, tt.message)
			}
		})
	}
}

func TestDecodeAllowsTrailingWhitespace(t *testing.T) {
	t.Parallel()
	var req portalapi.PolicyRequest
	if err := jsonbody.Decode(strings.NewReader("{\"name\":\"x\"}\n\r\n  "), &req); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if req.Name != "x" {
		t.Errorf("name = %q, want x", req.Name)
	}
}

// The package promises that Field is the JSON path of the problem, as it is for type
// errors ("runner.cpu"); an unknown field inside "runner" must be "runner.gpu", not "gpu".
func TestDecodeNamesPathOfNestedUnknownField(t *testing.T) {
	t.Parallel()
	var req portalapi.PolicyRequest
	err := jsonbody.Decode(strings.NewReader(`{"runner":{"image":"x","gpu":1}}`), &req)
	var fe portalapi.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Decode error %v (%T) is not a portalapi.FieldError", err, err)
	}
	if fe.Field != "runner.gpu" {
		t.Errorf("field = %q, want %q", fe.Field, "runner.gpu")
	}
}

// A failure to read the body is not a client's JSON mistake: the cause must stay reachable
// with errors.Is/As, so that the API can answer 413 for an *http.MaxBytesError (a chunked
// body over server.max_body_bytes) instead of 400.
func TestDecodeKeepsReadErrors(t *testing.T) {
	t.Parallel()
	t.Run("io error", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("connection reset")
		var req portalapi.PolicyRequest
		err := jsonbody.Decode(io.MultiReader(strings.NewReader(`{"name":`), iotest.ErrReader(boom)), &req)
		if !errors.Is(err, boom) {
			t.Errorf("Decode error = %#v, want one that wraps %v", err, boom)
		}
	})
	t.Run("body too large", func(t *testing.T) {
		t.Parallel()
		body := io.NopCloser(strings.NewReader(`{"name":"` + strings.Repeat("n", 100) + `"}`))
		var req portalapi.PolicyRequest
		err := jsonbody.Decode(http.MaxBytesReader(httptest.NewRecorder(), body, 16), &req)
		var tooLarge *http.MaxBytesError
		if !errors.As(err, &tooLarge) {
			t.Errorf("Decode error = %#v, want one that wraps *http.MaxBytesError", err)
		}
	})
}
