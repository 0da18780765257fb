package auth

import (
	"errors"
	"testing"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
)

func TestPrincipalCoversRepo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		prefixes []string // as stored: lower-cased by validateTokenRequest
		repo     string
		want     bool
	}{
		{"no prefixes: every repository", nil, "anyone/anything", true},
		{"empty prefixes: every repository", []string{}, "Acme/Web", true},
		{"owner prefix", []string{"acme/"}, "acme/web", true},
		{"repository in capitals", []string{"acme/"}, "ACME/Web", true},
		{"name prefix", []string{"acme/web-"}, "Acme/Web-Frontend", true},
		{"name prefix does not match other names", []string{"acme/web-"}, "acme/api", false},
		{"other owner", []string{"acme/"}, "other/web", false},
		{"owner with the same start", []string{"acme/"}, "acme-labs/web", false},
		{"bare owner prefix also matches longer owners", []string{"acme"}, "acme-labs/web", true},
		{"second prefix", []string{"acme/", "globex/"}, "Globex/infra", true},
		{"none of several", []string{"acme/", "globex/"}, "initech/tps", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Principal{OwnerPrefixes: tt.prefixes}
			if got := p.CoversRepo(tt.repo); got != tt.want {
				t.Errorf("Principal{OwnerPrefixes: %q}.CoversRepo(%q) = %v, want %v", tt.prefixes, tt.repo, got, tt.want)
			}
		})
	}
}

// TestPrincipalCoversGroup is the rule that decides who sees and manages a group, its
// agents and its registration tokens.
func TestPrincipalCoversGroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token []string // the token's owner prefixes
		group []string // the group's owner prefixes
		want  bool
	}{
		{"unprefixed token, shared group", nil, nil, true},
		{"unprefixed token, tenant group", nil, []string{"acme/"}, true},
		{"prefixed token, shared group (admin territory)", []string{"acme/"}, nil, false},
		{"prefixed token, shared group stored as []", []string{"acme/"}, []string{}, false},
		{"own group", []string{"acme/"}, []string{"acme/"}, true},
		{"narrower group", []string{"acme/"}, []string{"acme/web-"}, true},
		{"wider group", []string{"acme/web-"}, []string{"acme/"}, false},
		{"other owner's group", []string{"acme/"}, []string{"beta/"}, false},
		{"group partly foreign", []string{"acme/"}, []string{"acme/", "beta/"}, false},
		{"group of two owners, token of both", []string{"beta/", "acme/"}, []string{"acme/", "beta/"}, true},
		{"owner with the same start", []string{"acme/"}, []string{"acme-labs/"}, false},
		{"bare owner token covers longer owners", []string{"acme"}, []string{"acme-labs/"}, true},
		{"group in capitals", []string{"acme/"}, []string{"ACME/"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Principal{Name: "t", OwnerPrefixes: tt.token}
			g := &store.AgentGroup{Name: "g", OwnerPrefixes: tt.group}
			if got := p.CoversGroup(g); got != tt.want {
				t.Errorf("token %q CoversGroup(%q) = %v, want %v", tt.token, tt.group, got, tt.want)
			}
			err := p.AuthorizeGroup(g, "manage")
			if (err == nil) != tt.want || (err != nil && !errors.Is(err, ErrForbidden)) {
				t.Errorf("AuthorizeGroup = %v, want forbidden: %v", err, !tt.want)
			}
			if err := p.AuthorizeNewGroup("g", tt.group); (err == nil) != tt.want {
				t.Errorf("AuthorizeNewGroup = %v, want allowed: %v", err, tt.want)
			}
		})
	}
}

func TestCheckPolicyGroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		group []string
		repo  string
		want  bool
	}{
		{nil, "anyone/anything", true},
		{[]string{"acme/"}, "Acme/Web", true},
		{[]string{"acme/web-"}, "acme/web-shop", true},
		{[]string{"acme/web-"}, "acme/api", false},
		{[]string{"acme/"}, "beta/www", false},
		{[]string{"acme/", "beta/"}, "beta/www", true},
	}
	for _, tt := range tests {
		g := &store.AgentGroup{Name: "g", OwnerPrefixes: tt.group}
		err := CheckPolicyGroup(g, tt.repo)
		var verr *portalapi.ValidationError
		switch {
		case tt.want && err != nil:
			t.Errorf("group %q, repository %s: %v, want allowed", tt.group, tt.repo, err)
		case !tt.want && (!errors.As(err, &verr) || verr.Fields[0].Field != "agent_group"):
			t.Errorf("group %q, repository %s: %v, want a field error on agent_group", tt.group, tt.repo, err)
		}
		if GroupServes(g, tt.repo) != tt.want {
			t.Errorf("GroupServes(%q, %s) != %v", tt.group, tt.repo, tt.want)
		}
	}
}

func TestNormalizePrefixes(t *testing.T) {
	t.Parallel()
	got, errs := NormalizePrefixes("owner_prefixes", []string{"Acme/", "acme/", "beta/"})
	if len(errs) != 0 || len(got) != 2 || got[0] != "acme/" || got[1] != "beta/" {
		t.Fatalf("NormalizePrefixes = %q, %v", got, errs)
	}
	_, errs = NormalizePrefixes("owner_prefixes", []string{"ok/", " x", ""})
	if len(errs) != 2 || errs[0].Field != "owner_prefixes[1]" || errs[1].Field != "owner_prefixes[2]" {
		t.Fatalf("errors = %+v", errs)
	}
}
