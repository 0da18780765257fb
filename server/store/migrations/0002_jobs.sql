-- 0002: the durable job log (workflow_job webhooks and reconciliation) and the webhook
-- deliveries seen, for deduplication on X-GitHub-Delivery.

CREATE TABLE workflow_jobs (
    id                  BIGINT PRIMARY KEY,
    run_id              BIGINT NOT NULL,
    owner               VARCHAR(39) NOT NULL,
    repo                VARCHAR(100) NOT NULL,
    repo_key            VARCHAR(140) NOT NULL,
    name                VARCHAR(255) NOT NULL DEFAULT '',
    workflow_name       VARCHAR(255) NOT NULL DEFAULT '',
    labels              TEXT NOT NULL,
    github_status       VARCHAR(20) NOT NULL,
    conclusion          VARCHAR(20) NOT NULL DEFAULT '',
    state               VARCHAR(32) NOT NULL,
    policy_id           VARCHAR(36) NOT NULL DEFAULT '',
    policy_name         VARCHAR(63) NOT NULL DEFAULT '',
    unmatched_reason    TEXT NOT NULL DEFAULT '',
    runner_name         VARCHAR(255) NOT NULL DEFAULT '',
    runner_id           BIGINT NOT NULL DEFAULT 0,
    html_url            TEXT NOT NULL DEFAULT '',
    source              VARCHAR(16) NOT NULL,
    github_created_at   {{.Time}},
    received_at         {{.Time}} NOT NULL,
    matched_at          {{.Time}},
    runner_requested_at {{.Time}},
    runner_online_at    {{.Time}},
    in_progress_at      {{.Time}},
    completed_at        {{.Time}},
    updated_at          {{.Time}} NOT NULL
);

CREATE INDEX workflow_jobs_repo ON workflow_jobs (repo_key, id);

CREATE INDEX workflow_jobs_state ON workflow_jobs (state, id);

CREATE TABLE webhook_deliveries (
    guid        VARCHAR(64) PRIMARY KEY,
    event       VARCHAR(64) NOT NULL,
    action      VARCHAR(64) NOT NULL DEFAULT '',
    job_id      BIGINT NOT NULL DEFAULT 0,
    outcome     VARCHAR(32) NOT NULL,
    received_at {{.Time}} NOT NULL
);

CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at);
