package quotas

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/garo-dev/garo/server/store"
)

func ptr[T any](v T) *T { return &v }

// places renders the queue's places of ids: "id:admitted", "id:limit@position".
func places(q *Queue, ids ...int64) []string {
	var out []string
	for _, id := range ids {
		p, ok := q.Places[id]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%d:-", id))
		case p.Admitted:
			out = append(out, fmt.Sprintf("%d:admitted", id))
		default:
			out = append(out, fmt.Sprintf("%d:%s@%d", id, p.Limit, p.Position))
		}
	}
	return out
}

// Two teams share a group: the group's quota goes to the higher priority first, a team's
// own quota holds its jobs without holding the other team's, a policy's max_runners holds
// its own jobs, and past max_wait the oldest goes first whatever its priority.
func TestBuildQueue(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	qs := []store.Quota{
		{ID: "qa", Kind: store.QuotaOwnerPrefix, Subject: "acme/a-", MaxRunners: ptr[int64](2)},
		{ID: "qg", Kind: store.QuotaAgentGroup, Subject: "default", MaxRunners: ptr[int64](4)},
	}
	live := liveSet{
		{repoKey: "acme/a-web", policy: "hi", group: "default", state: "busy"},
		{repoKey: "acme/b-api", policy: "lo", group: "default", state: "busy"},
	}
	job := func(id int64, repo, pol string, prio int, ago time.Duration, maxRunners int) store.QueuedJob {
		return store.QueuedJob{ID: id, RepoKey: repo, Policy: pol, Priority: prio, MaxRunners: maxRunners,
			AgentGroup: "default", ReceivedAt: now.Add(-ago)}
	}
	jobs := []store.QueuedJob{
		job(1, "acme/b-api", "lo", 0, 60*time.Second, 10),
		job(2, "acme/a-web", "hi", 10, 50*time.Second, 10),
		job(3, "acme/a-web", "hi", 10, 40*time.Second, 10),
		job(4, "acme/b-api", "hi", 10, 30*time.Second, 10),
		job(5, "acme/b-api", "lo", 0, 20*time.Second, 10),
		job(6, "acme/b-api", "small", 5, 10*time.Second, 1),
		job(7, "acme/b-api", "small", 5, 5*time.Second, 1),
	}
	ids := []int64{1, 2, 3, 4, 5, 6, 7}
	for _, tc := range []struct {
		name    string
		maxWait time.Duration
		want    []string
	}{
		// group room 2: team a takes 2 (its quota has room for 1 more only: 3 waits for
		// team a), then b's hi 4, then small 6; lo waits for the group.
		{"priorities", 0, []string{"1:group_quota@2", "2:admitted", "3:team_quota@1", "4:admitted", "5:group_quota@3", "6:group_quota@1", "7:max_runners@1"}},
		// job 1 has waited past 45s: it goes first.
		{"max_wait", 45 * time.Second, []string{"1:admitted", "2:admitted", "3:team_quota@1", "4:group_quota@1", "5:group_quota@3", "6:group_quota@2", "7:max_runners@1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q, err := Build(qs, live, jobs, now, tc.maxWait, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := places(q, ids...); !slices.Equal(got, tc.want) {
				t.Errorf("places\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}
