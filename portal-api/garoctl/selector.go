package garoctl

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/garo-dev/garo/portal-api/client"
)

// selectorKeys are the policy fields --selector matches; values are path.Match patterns.
var selectorKeys = []string{"repository", "name", "agent_group", "provider"}

// selector is the scope of apply --prune: which policies the files are the whole truth of.
type selector struct {
	ownerPrefix string
	terms       []string
	match       map[string]string
}

func (s *selector) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.ownerPrefix, "owner-prefix", "", "prune scope: policies whose repository starts with this (acme, acme/team-a)")
	f.StringArrayVar(&s.terms, "selector", nil, "prune scope: KEY=PATTERN, KEY one of "+strings.Join(selectorKeys, ", ")+" (glob, e.g. repository=acme/*); repeatable, all must match")
	_ = cmd.RegisterFlagCompletionFunc("selector", completeSelector)
}

func (s *selector) empty() bool { return s.ownerPrefix == "" && len(s.terms) == 0 }

// parse checks the --selector terms.
func (s *selector) parse() error {
	s.match = map[string]string{}
	for _, t := range s.terms {
		k, v, ok := strings.Cut(t, "=")
		if !ok || v == "" {
			return usageError{fmt.Errorf("--selector %q: want KEY=PATTERN", t)}
		}
		known := false
		for _, sk := range selectorKeys {
			known = known || sk == k
		}
		if !known {
			return usageError{fmt.Errorf("--selector %q: key must be one of %s", t, strings.Join(selectorKeys, ", "))}
		}
		if _, err := path.Match(v, ""); err != nil {
			return usageError{fmt.Errorf("--selector %q: bad pattern: %w", t, err)}
		}
		s.match[k] = v
	}
	return nil
}

// matches reports whether a policy is in the scope.
func (s *selector) matches(repo, name, group, provider string) bool {
	if s.ownerPrefix != "" && !strings.HasPrefix(repo, s.ownerPrefix) {
		return false
	}
	vals := map[string]string{"repository": repo, "name": name, "agent_group": group, "provider": provider}
	for k, pat := range s.match {
		if ok, _ := path.Match(pat, vals[k]); !ok {
			return false
		}
	}
	return true
}

// listOptions narrows the server's list to the owner when the scope names one.
func (s *selector) listOptions() client.ListPoliciesOptions {
	var o client.ListPoliciesOptions
	if owner, _, ok := strings.Cut(s.ownerPrefix, "/"); ok {
		o.Owner = owner
	}
	return o
}

func (s selector) String() string {
	var parts []string
	if s.ownerPrefix != "" {
		parts = append(parts, "--owner-prefix "+s.ownerPrefix)
	}
	terms := append([]string{}, s.terms...)
	sort.Strings(terms)
	for _, t := range terms {
		parts = append(parts, "--selector "+t)
	}
	return strings.Join(parts, " ")
}
