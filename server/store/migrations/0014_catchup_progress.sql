-- 0014: catch-up progress shared by replicas and kept across restarts.
--
-- catchup_progress holds one row per loop. For "redeliver": last_good_at is the time up
-- to which every webhook delivery of the App was examined (failed workflow_job ones
-- redelivered); an unfinished walk back through the deliveries keeps page_cursor (the
-- GitHub cursor of the page to read next, '' for the newest page), walk_until (where the
-- walk stops: last_good_at when it began) and walk_top (the newest delivery seen when it
-- began: last_good_at once it is done). For "reconcile": repo_key is the last idle
-- repository reconciled, so that the round-robin resumes after it.
CREATE TABLE catchup_progress (
    name         VARCHAR(32) PRIMARY KEY,
    page_cursor  TEXT NOT NULL DEFAULT '',
    walk_until   {{.Time}},
    walk_top     {{.Time}},
    last_good_at {{.Time}},
    repo_key     VARCHAR(140) NOT NULL DEFAULT '',
    updated_at   {{.Time}} NOT NULL
);

-- redelivered_deliveries: the delivery GUIDs Garo asked GitHub to redeliver, with the
-- attempt (GitHub's delivery id) last asked about. A replica claims a GUID (insert, or a
-- conditional update when a newer attempt failed) before it asks, so that a delivery is
-- asked for once per failed attempt across replicas and restarts.
CREATE TABLE redelivered_deliveries (
    guid       VARCHAR(64) PRIMARY KEY,
    attempt_id BIGINT NOT NULL,
    asks       INTEGER NOT NULL,
    asked_at   {{.Time}} NOT NULL
);

CREATE INDEX redelivered_deliveries_asked ON redelivered_deliveries (asked_at);

-- checked_at: when reconciliation last asked GitHub about the job (the least recently
-- checked go first when a cycle's cap is reached).
ALTER TABLE workflow_jobs ADD COLUMN checked_at {{.Time}};

CREATE INDEX workflow_jobs_repo_state ON workflow_jobs (repo_key, state, id);

CREATE INDEX workflow_jobs_state_completed ON workflow_jobs (state, completed_at);

CREATE INDEX workflow_jobs_updated ON workflow_jobs (updated_at);
