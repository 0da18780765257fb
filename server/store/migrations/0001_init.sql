-- 0001: agent groups, runner policies, API tokens and the audit trail.
-- Placeholders: {{.Time}} timestamp type, {{.AutoID}} auto-increment primary key.

CREATE TABLE agent_groups (
    name        VARCHAR(63) PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  {{.Time}} NOT NULL
);

INSERT INTO agent_groups (name, description, created_at)
VALUES ('default', 'Created by garo-server on first start.', CURRENT_TIMESTAMP);

CREATE TABLE policies (
    id                VARCHAR(36) PRIMARY KEY,
    owner             VARCHAR(39) NOT NULL,
    repo              VARCHAR(100) NOT NULL,
    owner_key         VARCHAR(39) NOT NULL,
    repo_key          VARCHAR(140) NOT NULL,
    name              VARCHAR(63) NOT NULL,
    labels            TEXT NOT NULL,
    min_idle          INTEGER NOT NULL,
    max_runners       INTEGER NOT NULL,
    ephemeral         BOOLEAN NOT NULL,
    idle_grace        BIGINT NOT NULL,
    bootstrap_timeout BIGINT NOT NULL,
    agent_group       VARCHAR(63) NOT NULL REFERENCES agent_groups (name) ON DELETE RESTRICT,
    enabled           BOOLEAN NOT NULL,
    provider          VARCHAR(20) NOT NULL,
    runner_spec       TEXT NOT NULL,
    version           BIGINT NOT NULL,
    created_at        {{.Time}} NOT NULL,
    updated_at        {{.Time}} NOT NULL,
    CONSTRAINT policies_repo_name UNIQUE (repo_key, name)
);

CREATE INDEX policies_owner_key ON policies (owner_key);

CREATE INDEX policies_agent_group ON policies (agent_group);

CREATE TABLE api_tokens (
    id             VARCHAR(36) PRIMARY KEY,
    name           VARCHAR(100) NOT NULL,
    hash           CHAR(64) NOT NULL UNIQUE,
    scopes         TEXT NOT NULL,
    owner_prefixes TEXT NOT NULL,
    created_by     VARCHAR(200) NOT NULL,
    created_at     {{.Time}} NOT NULL,
    expires_at     {{.Time}},
    last_used_at   {{.Time}}
);

CREATE TABLE audit_events (
    id             {{.AutoID}},
    at             {{.Time}} NOT NULL,
    actor          VARCHAR(200) NOT NULL,
    actor_token_id VARCHAR(36) NOT NULL,
    action         VARCHAR(64) NOT NULL,
    resource_type  VARCHAR(32) NOT NULL,
    resource_id    VARCHAR(255) NOT NULL,
    repository     VARCHAR(140) NOT NULL DEFAULT '',
    request_id     VARCHAR(64) NOT NULL DEFAULT '',
    before_json    TEXT,
    after_json     TEXT
);

CREATE INDEX audit_events_resource ON audit_events (resource_type, resource_id);

CREATE INDEX audit_events_repository ON audit_events (repository);

CREATE INDEX audit_events_at ON audit_events (at);
