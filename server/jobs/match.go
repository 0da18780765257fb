package jobs

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/spec"
)

// defaultPlatform reports whether l is part of the default platform of spec.RunnerLabels
// (self-hosted, Linux, X64): it never makes a policy less specific.
func defaultPlatform(l string) bool {
	return strings.EqualFold(l, spec.SelfHostedLabel) || strings.EqualFold(l, spec.DefaultOSLabel) || strings.EqualFold(l, spec.DefaultArchLabel)
}

var (
	// githubHosted matches the labels of GitHub's own runners (ubuntu-latest,
	// windows-2022, macos-14-arm64, ...): such jobs are none of Garo's business.
	githubHosted = regexp.MustCompile(`^(ubuntu|windows|macos)-(latest|[0-9][0-9.]*)(-[a-z0-9-]+)?$`)
)

// GitHubHosted reports whether a job asks for one of GitHub's own runners: every label is
// a GitHub-hosted image label, and none is self-hosted.
func GitHubHosted(labels []string) bool {
	if len(labels) == 0 {
		return false
	}
	for _, l := range labels {
		if !githubHosted.MatchString(strings.ToLower(l)) {
			return false
		}
	}
	return true
}

// Match picks the policy of a repository that serves a job asking for labels: among the
// enabled policies whose runners carry every requested label (case-insensitive), the most
// specific one, i.e. the one with the fewest policy labels the job did not ask for, not
// counting the default platform (a job asking for [self-hosted, linux] goes to
// "linux-small" rather than "linux-gpu"); a tie goes to the policy whose name sorts first.
// Jobs for GitHub-hosted runners (ubuntu-latest, ...) never match. It returns nil and the reason when none fits.
func Match(labels []string, policies []store.Policy) (*store.Policy, string) {
	if GitHubHosted(labels) {
		return nil, "the job asks for a GitHub-hosted runner"
	}
	if len(labels) == 0 {
		// Every runner has all of no labels: such a job would match every policy.
		// GitHub's workflow_job always names its runs-on; the webhook refuses null.
		// runs-on: {group: NAME} alone may arrive so: the queued event's runner_* fields
		// are null (github/docs#12083), so the group is not known here.
		return nil, "the job asks for no labels (a runs-on that names only a runner group is served only by the repository's organisation-level policies of one runner group: GitHub's queued event does not name the group; add the policy's labels to runs-on)"
	}
	if len(policies) == 0 {
		return nil, "the repository has no enabled runner policy"
	}
	want := map[string]bool{}
	for _, l := range labels {
		want[strings.ToLower(l)] = true
	}
	type candidate struct {
		p     *store.Policy
		extra int
	}
	var fits []candidate
	for i := range policies {
		p := &policies[i]
		if !p.Enabled {
			continue
		}
		// The labels Garo asks generate-jitconfig for (spec.RunnerLabels) are exactly
		// what the policy's runners answer to; GitHub takes a job on a runner that has
		// every label of its runs-on, ignoring case.
		if !spec.HasLabels(spec.RunnerLabels(p.Labels), labels) {
			continue
		}
		// Unrequested labels make a policy less specific, but the default platform
		// (linux, x64) does not count: [self-hosted] goes to a plain Linux policy rather
		// than to an arm64 or Windows one.
		extra := 0
		for _, l := range p.Labels {
			if l = strings.ToLower(l); !want[l] && !defaultPlatform(l) {
				extra++
			}
		}
		fits = append(fits, candidate{p, extra})
	}
	if len(fits) == 0 {
		names := make([]string, 0, len(policies))
		for _, p := range policies {
			names = append(names, p.Name)
		}
		sort.Strings(names)
		return nil, fmt.Sprintf("no enabled policy offers the labels %v (policies: %s)", labels, strings.Join(names, ", "))
	}
	sort.Slice(fits, func(i, j int) bool {
		if fits[i].extra != fits[j].extra {
			return fits[i].extra < fits[j].extra
		}
		return fits[i].p.Name < fits[j].p.Name
	})
	return fits[0].p, ""
}

// MatchGroup is Match for a job that may name a runner group (runs-on: {group: NAME},
// with or without labels). A job naming a group goes only to organisation-level policies
// of that group (GitHub compares group names without regard to case); without labels it
// takes the group's most specific policy. A job naming no group is Match.
//
// A job with neither a group nor labels is what GitHub's queued webhook carries for
// runs-on: {group: NAME} alone: labels empty and runner_group_name null until a runner
// takes the job (terraform-aws-github-runner#3643, github/docs#12083). When the
// repository's enabled organisation-level policies all use one runner group, that is the
// only group Garo can serve the job in, and the job goes there; otherwise the reason says
// why the group cannot be told.
func MatchGroup(group string, labels []string, policies []store.Policy) (*store.Policy, string) {
	if group == "" && len(labels) == 0 {
		var groups []string
		for _, p := range policies {
			if p.Enabled && p.AtOrganization() && !slices.ContainsFunc(groups, func(g string) bool { return strings.EqualFold(g, p.RunnerGroup) }) {
				groups = append(groups, p.RunnerGroup)
			}
		}
		switch len(groups) {
		case 0:
			return Match(labels, policies)
		case 1:
			return MatchGroup(groups[0], nil, policies)
		}
		sort.Strings(groups)
		return nil, fmt.Sprintf("the job asks for no labels, as GitHub's queued event has it for runs-on: {group: NAME}, which it does not name "+
			"while the job is queued; the repository's organisation-level policies use several runner groups (%s), so which one is meant "+
			"cannot be told: add a policy label to runs-on", strings.Join(groups, ", "))
	}
	if group == "" {
		return Match(labels, policies)
	}
	var in []store.Policy
	for _, p := range policies {
		if p.AtOrganization() && strings.EqualFold(p.RunnerGroup, group) {
			in = append(in, p)
		}
	}
	if len(in) == 0 {
		return nil, fmt.Sprintf("no enabled policy registers its runners in runner group %q", group)
	}
	if len(labels) == 0 {
		// Every runner of the group serves a job that asks only for the group: ask for
		// the default platform, which every policy's runners carry.
		labels = []string{spec.SelfHostedLabel}
	}
	return Match(labels, in)
}
