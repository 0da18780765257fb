package store_test

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm/schema"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
)

// TestInsertColumns: CreateJobs and RecordDeliveries write every column of their model,
// in its order.
func TestInsertColumns(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		model   any
		columns []string
	}{{&store.WorkflowJob{}, store.JobColumnsForTest}, {&store.WebhookDelivery{}, store.DeliveryColumnsForTest}} {
		s, err := schema.Parse(c.model, &sync.Map{}, schema.NamingStrategy{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s.DBNames, c.columns) {
			t.Errorf("%T: written %v,\nthe model has %v", c.model, c.columns, s.DBNames)
		}
	}
}

// TestCreateJobsReadBack: jobs created together read back as written, every column, NULLs
// and times included; GetJobs finds those that exist; an id taken fails the whole INSERT.
func TestCreateJobsReadBack(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		st := testdb.Open(t, b)
		ctx := t.Context()
		at := func(s int) *time.Time { v := time.Date(2026, 12, 4, 10, 0, s, 123000, time.UTC); return &v }
		full := &store.WorkflowJob{ID: 1, RunID: 10, Owner: "Acme", Repo: "Web", RepoKey: "acme/web", Name: "build", WorkflowName: "CI",
			Labels: store.StringList{"self-hosted", "linux"}, GitHubStatus: "in_progress", Conclusion: "", State: "in_progress",
			PolicyID: "p1", PolicyName: "linux", RunnerName: "garo-r1", RunnerID: 42, HTMLURL: "https://github.com/acme/web/actions/runs/10/job/1",
			Source: "webhook", GitHubCreatedAt: at(1), ReceivedAt: *at(2), MatchedAt: at(3), RunnerRequestedAt: at(4), RunnerOnlineAt: at(5),
			InProgressAt: at(6), AgentState: "runner_requested", QueuePosition: 3, AgentID: "agent-1", AgentReason: "why", AgentRetryAt: at(7),
			AgentLimit: "max_runners", CheckedAt: at(8)}
		bare := &store.WorkflowJob{ID: 2, Owner: "acme", Repo: "web", RepoKey: "acme/web", Labels: store.StringList{},
			GitHubStatus: "queued", State: "unmatched", UnmatchedReason: "no policy", Source: "reconcile", ReceivedAt: *at(9)}
		if err := st.CreateJobs(ctx, []*store.WorkflowJob{full, bare}); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetJobs(ctx, []int64{1, 2, 3}, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("GetJobs found %d jobs, want 2", len(got))
		}
		for _, want := range []*store.WorkflowJob{full, bare} {
			j, err := st.GetJob(ctx, want.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			// Times as the store reads them back (UTC), compared by value.
			norm := func(j store.WorkflowJob) store.WorkflowJob {
				for _, p := range []**time.Time{&j.GitHubCreatedAt, &j.MatchedAt, &j.RunnerRequestedAt, &j.RunnerOnlineAt, &j.InProgressAt, &j.CompletedAt, &j.AgentRetryAt, &j.CheckedAt} {
					if *p != nil {
						v := (*p).UTC()
						*p = &v
					}
				}
				j.ReceivedAt, j.UpdatedAt = j.ReceivedAt.UTC(), j.UpdatedAt.UTC()
				return j
			}
			if g, w := norm(*j), norm(*want); !reflect.DeepEqual(g, w) {
				t.Fatalf("job %d read back\n got %+v\nwant %+v", want.ID, g, w)
			}
			if g := norm(*got[want.ID]); !reflect.DeepEqual(g, norm(*j)) {
				t.Fatalf("GetJobs and GetJob disagree on job %d", want.ID)
			}
		}
		err = st.CreateJobs(ctx, []*store.WorkflowJob{{ID: 3, Owner: "acme", Repo: "web", RepoKey: "acme/web", GitHubStatus: "queued",
			State: "queued", Source: "webhook", ReceivedAt: *at(10)}, {ID: 2, Owner: "acme", Repo: "web", RepoKey: "acme/web",
			GitHubStatus: "queued", State: "queued", Source: "webhook", ReceivedAt: *at(10)}})
		if !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("creating job 2 again: %v, want ErrAlreadyExists", err)
		}
		if _, err := st.GetJob(ctx, 3, false); err == nil {
			t.Fatal("job 3 was created by a failed INSERT")
		}
	})
}
