package memory

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SimRunner returns a RunFunc that plays a runner against the GitHub simulator over HTTP,
// the way the stub runner image does: it reads the simulator URL (.runner serverUrl) from
// the JIT config in its environment, connects, waits for a job, works for work and completes the job with
// success. It is what `garo-agent run` with the memory provider uses, so that a demo with
// garo-githubsim runs jobs without containers. client nil means a client with 90 s
// timeouts per request.
func SimRunner(client *http.Client, work time.Duration) RunFunc {
	if client == nil {
		client = &http.Client{Timeout: 90 * time.Second}
	}
	return func(ctx context.Context, r Runner) error {
		jit := r.JITConfig()
		if jit == "" {
			return ExitError{Code: 2} // like the real runner without configuration
		}
		root, err := simURL(jit)
		if err != nil {
			return ExitError{Code: 2}
		}
		c := simClient{http: client, root: root}
		var conn struct {
			SessionToken string `json:"session_token"`
			Runner       struct {
				ID int64 `json:"id"`
			} `json:"runner"`
		}
		if err := c.post(ctx, "/_sim/runners/connect", "", map[string]string{"jit_config": jit, "os": "linux"}, &conn); err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		base := "/_sim/runners/" + strconv.FormatInt(conn.Runner.ID, 10)
		disconnect := func() {
			// The agent deleted the runner: say goodbye on a short context of our own,
			// since ctx has ended.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = c.post(dctx, base+"/disconnect", conn.SessionToken, struct{}{}, nil)
		}
		for {
			var got struct {
				Job *struct {
					ID int64 `json:"id"`
				} `json:"job"`
			}
			err := c.post(ctx, base+"/acquire?wait=30s", conn.SessionToken, struct{}{}, &got)
			if ctx.Err() != nil {
				disconnect()
				return nil
			}
			if err != nil {
				return fmt.Errorf("acquire: %w", err)
			}
			if got.Job != nil && got.Job.ID != 0 {
				break
			}
		}
		t := time.NewTimer(work)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			disconnect()
			return nil
		}
		if err := c.post(ctx, base+"/complete", conn.SessionToken, map[string]string{"conclusion": "success"}, nil); err != nil {
			return fmt.Errorf("complete: %w", err)
		}
		return nil
	}
}

// simURL reads the simulator's URL from an encoded JIT config, laid out as the real
// runner reads it: base64 of a JSON object of strings (file name → base64 of the file),
// the URL being serverUrl of the ".runner" file.
func simURL(encoded string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return "", errors.New("jit config is not base64")
	}
	var files map[string]string
	if err := json.Unmarshal(raw, &files); err != nil {
		return "", errors.New("jit config is not a JSON object of strings")
	}
	b, err := base64.StdEncoding.DecodeString(files[".runner"])
	if err != nil {
		return "", errors.New("jit config's .runner is not base64")
	}
	var doc struct {
		ServerURL string `json:"serverUrl"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.ServerURL == "" {
		return "", errors.New("jit config has no .runner serverUrl")
	}
	return strings.TrimRight(doc.ServerURL, "/"), nil
}

type simClient struct {
	http *http.Client
	root string
}

// post sends body as JSON and decodes a 2xx answer into out (nil: discard; 204: nothing).
// Errors never include the request body, which holds the JIT config.
func (c simClient) post(ctx context.Context, path, session string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.root+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", strings.SplitN(path, "?", 2)[0], resp.Status)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return json.Unmarshal(data, out)
}
