-- 0003: agents, their registration tokens, repository ownership (which agent of a group
-- serves a repository), the runner inventory reported in heartbeats, and the agent's view
-- of each job (waiting for capacity, runner requested) on the job log.

CREATE TABLE agents (
    id              VARCHAR(36) PRIMARY KEY,
    name            VARCHAR(255) NOT NULL,
    agent_group     VARCHAR(63) NOT NULL REFERENCES agent_groups (name) ON DELETE CASCADE,
    credential_hash CHAR(64) NOT NULL UNIQUE,
    version         VARCHAR(64) NOT NULL DEFAULT '',
    provider        VARCHAR(20) NOT NULL DEFAULT '',
    state           VARCHAR(16) NOT NULL,
    registered_at   {{.Time}} NOT NULL,
    last_seen_at    {{.Time}} NOT NULL,
    revoked_at      {{.Time}},
    inventory       TEXT
);

CREATE INDEX agents_group ON agents (agent_group);

CREATE TABLE agent_registration_tokens (
    id          VARCHAR(36) PRIMARY KEY,
    agent_group VARCHAR(63) NOT NULL REFERENCES agent_groups (name) ON DELETE CASCADE,
    hash        CHAR(64) NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    expires_at  {{.Time}} NOT NULL,
    uses_left   INTEGER NOT NULL,
    created_by  VARCHAR(200) NOT NULL,
    created_at  {{.Time}} NOT NULL
);

CREATE INDEX agent_registration_tokens_group ON agent_registration_tokens (agent_group);

-- One row per (repository, group): a repository whose policies name two groups is served
-- by one agent of each. The primary key is what makes two owners impossible.
CREATE TABLE repository_ownership (
    repo_key         VARCHAR(140) NOT NULL,
    agent_group      VARCHAR(63) NOT NULL,
    agent_id         VARCHAR(36) NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    lease_expires_at {{.Time}} NOT NULL,
    assigned_at      {{.Time}} NOT NULL,
    PRIMARY KEY (repo_key, agent_group)
);

CREATE INDEX repository_ownership_agent ON repository_ownership (agent_id);

CREATE TABLE runners (
    name        VARCHAR(255) PRIMARY KEY,
    repo_key    VARCHAR(140) NOT NULL,
    policy      VARCHAR(63) NOT NULL,
    agent_id    VARCHAR(36) NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    provider_id VARCHAR(255) NOT NULL DEFAULT '',
    runner_id   BIGINT NOT NULL DEFAULT 0,
    state       VARCHAR(16) NOT NULL,
    job_id      BIGINT NOT NULL DEFAULT 0,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  {{.Time}} NOT NULL,
    updated_at  {{.Time}} NOT NULL
);

CREATE INDEX runners_agent ON runners (agent_id);

CREATE INDEX runners_repo ON runners (repo_key, policy);

ALTER TABLE workflow_jobs ADD COLUMN agent_state VARCHAR(32) NOT NULL DEFAULT '';

ALTER TABLE workflow_jobs ADD COLUMN queue_position INTEGER NOT NULL DEFAULT 0;

ALTER TABLE workflow_jobs ADD COLUMN agent_id VARCHAR(36) NOT NULL DEFAULT '';

CREATE INDEX workflow_jobs_agent ON workflow_jobs (agent_id);
