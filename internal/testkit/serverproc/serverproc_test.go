package serverproc_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/serverproc"
)

// TestStart starts the real binary and asks it who the bootstrap token is.
func TestStart(t *testing.T) {
	s := serverproc.Start(t, serverproc.Build(t))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/api/v1/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var who struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&who); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || who.Name != "bootstrap-admin" || len(who.Scopes) != 1 || who.Scopes[0] != "admin" {
		t.Fatalf("whoami = %d %+v", resp.StatusCode, who)
	}
}
