package docker

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/garo-dev/garo/agent/provider"
)

// realisticJITConfig builds an encoded_jit_config shaped like GitHub's (POST
// /repos/{owner}/{repo}/actions/runners/generate-jitconfig): base64 of a JSON object whose
// values are base64 of the runner's .runner, .credentials and .credentials_rsaparams
// files, as actions/runner reads them back in its JIT configuration path
// (src/Runner.Listener/Configuration/ConfigurationManager.cs). It returns the encoded
// config and the secret values inside it that must never reach a log.
func realisticJITConfig(t *testing.T) (encoded string, secrets map[string]string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key.Precompute()
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	clientID := uuid.NewString()
	runner := map[string]any{
		"AgentId": "42", "AgentName": "garo-acme-app-linux-7f3a", "PoolId": "1", "PoolName": "Default",
		"DisableUpdate": "True", "Ephemeral": "True",
		"ServerUrl":    "https://pipelinesghubeus8.actions.githubusercontent.com/Xm1o2aWq6RxJ8pW3o0pN5v2QyJc0UcVRQ6J9oM4kGv2t4m/",
		"GitHubUrl":    "https://github.com/acme/app",
		"WorkFolder":   "_work",
		"UseV2Flow":    true,
		"ServerUrlV2":  "https://broker.actions.githubusercontent.com/",
		"AgentLabels":  []string{"self-hosted", "linux"},
		"IsHostedPool": false,
	}
	credentials := map[string]any{
		"Scheme": "OAuth",
		"Data": map[string]string{
			"ClientId":                clientID,
			"AuthorizationUrl":        "https://vstoken.actions.githubusercontent.com/_apis/oauth2/token/" + uuid.NewString(),
			"RequireFipsCryptography": "True",
		},
	}
	rsaParams := map[string]string{
		"d": b64(key.D.Bytes()), "dp": b64(key.Precomputed.Dp.Bytes()), "dq": b64(key.Precomputed.Dq.Bytes()),
		"exponent": "AQAB", "inverseQ": b64(key.Precomputed.Qinv.Bytes()), "modulus": b64(key.N.Bytes()),
		"p": b64(key.Primes[0].Bytes()), "q": b64(key.Primes[1].Bytes()),
	}
	files := map[string]string{}
	for name, v := range map[string]any{".runner": runner, ".credentials": credentials, ".credentials_rsaparams": rsaParams} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b64(b)
	}
	outer, err := json.Marshal(files)
	if err != nil {
		t.Fatal(err)
	}
	encoded = b64(outer)
	secrets = map[string]string{
		"encoded": encoded, "decoded": string(outer), "client id": clientID,
		".credentials_rsaparams encoded": files[".credentials_rsaparams"], ".credentials encoded": files[".credentials"],
	}
	for k, v := range rsaParams {
		if k != "exponent" {
			secrets["rsa "+k] = v
		}
	}
	return encoded, secrets
}

// wrap cuts s into lines of n characters, as base64(1) prints it.
func wrap(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// The failed-runner log tail masks the JIT configuration in every form a runner (or an
// entrypoint script) prints it: raw, decoded, one of its files decoded and pretty-printed
// over lines, wrapped over lines, or cut at the start of the tail. The log lines around
// it stay.
func TestLogTailMasksJITConfigInEveryForm(t *testing.T) {
	t.Parallel()
	jit, secrets := realisticJITConfig(t)
	var files map[string]string
	decodedOuter, _ := base64.StdEncoding.DecodeString(jit)
	if err := json.Unmarshal(decodedOuter, &files); err != nil {
		t.Fatal(err)
	}
	rsaJSON, _ := base64.StdEncoding.DecodeString(files[".credentials_rsaparams"])
	var rsaDoc map[string]string
	if err := json.Unmarshal(rsaJSON, &rsaDoc); err != nil {
		t.Fatal(err)
	}
	pretty, _ := json.MarshalIndent(rsaDoc, "", "  ")
	credJSON, _ := base64.StdEncoding.DecodeString(files[".credentials"])

	keep := []string{"√ Connected to GitHub", "Runner listener exit with retryable error: failing with exit code 2", "Exiting runner..."}
	for _, tc := range []struct {
		name string
		log  []string
	}{
		{"raw", []string{"ACTIONS_RUNNER_INPUT_JITCONFIG=" + jit}},
		{"decoded", []string{"jit config: " + string(decodedOuter)}},
		{"a file decoded", []string{"credentials: " + string(credJSON)}},
		{"rsa parameters pretty-printed", strings.Split(string(pretty), "\n")},
		{"wrapped at 76", append([]string{"-----BEGIN JIT-----"}, wrap(jit, 76)...)},
		{"wrapped at 64 with a prefix", func() []string {
			var out []string
			for _, l := range wrap(jit, 64) {
				out = append(out, "[entrypoint] "+l)
			}
			return out
		}()},
		{"cut at the start of the tail", []string{jit[len(jit)/2:]}},
		{"cut, after a key", []string{"ACTIONS_RUNNER_INPUT_JITCONFIG=" + jit[:len(jit)/3]}},
		{"a file, raw", []string{".credentials_rsaparams=" + files[".credentials_rsaparams"]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lines := append([]string{keep[0]}, tc.log...)
			lines = append(lines, keep[1:]...)
			eng := &stubEngine{logs: strings.Join(lines, "\n") + "\n"}
			p, err := New(eng, Config{LogTailLines: 100}, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			got := p.logTail(t.Context(), "c1", jit)
			for _, k := range keep {
				if !strings.Contains(got, k) {
					t.Errorf("tail lost the line %q:\n%s", k, got)
				}
			}
			if !strings.Contains(got, redactedMark) {
				t.Errorf("tail has no %s:\n%s", redactedMark, got)
			}
			for what, s := range secrets {
				if strings.Contains(got, s) {
					t.Errorf("tail holds the %s:\n%s", what, got)
				}
			}
			// No piece of an encoded form (a wrapped line, a cut) is left either.
			for _, enc := range []string{jit, files[".credentials_rsaparams"], files[".credentials"], files[".runner"], rsaDoc["d"], rsaDoc["p"], rsaDoc["q"]} {
				for _, run := range secretRun.FindAllString(got, -1) {
					if len(run) >= 24 && strings.Contains(enc, run) {
						t.Errorf("tail holds %q, a piece of a secret:\n%s", run, got)
					}
				}
			}
		})
	}
}

// A short or non-base64 secret (a registration token) is masked as given; a tail without
// it is left alone.
func TestMaskSecretPlain(t *testing.T) {
	t.Parallel()
	token := "AABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
	if got := maskSecret("token "+token+" ok", token); got != "token [redacted] ok" {
		t.Errorf("maskSecret = %q", got)
	}
	if got := maskSecret("exit:2", "exit:2"); got != redactedMark {
		t.Errorf("maskSecret of a short secret = %q", got)
	}
	const line = "Runner.Listener: Listening for Jobs at 2026-12-03T15:00:00Z"
	if got := maskSecret(line, token); got != line {
		t.Errorf("maskSecret changed a line without the secret: %q", got)
	}
	if got := maskSecret(line, ""); got != line {
		t.Errorf("maskSecret without a secret changed the line: %q", got)
	}
}

// A container that fails to start has its log tail in the error, masked as well.
func TestFailedStartTailMasksJITConfig(t *testing.T) {
	t.Parallel()
	jit, secrets := realisticJITConfig(t)
	eng := &stubEngine{startErr: errors.New("exec format error"), logs: "entrypoint: config " + jit + "\n"}
	p, err := New(eng, Config{PullPolicy: PullNever}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	req := stubRequest()
	req.Env[provider.EnvJITConfig] = jit
	_, err = p.Create(t.Context(), req)
	if err == nil || !strings.Contains(err.Error(), "entrypoint: config "+redactedMark) {
		t.Fatalf("Create = %v, want the start failure with the masked tail", err)
	}
	for what, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error holds the %s: %v", what, err)
		}
	}
}
