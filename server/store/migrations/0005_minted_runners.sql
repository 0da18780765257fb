-- 0005: runners the server minted credentials for and no agent has reported yet. An agent
-- that dies between asking for a runner's credentials and starting it leaves a runner
-- registered on GitHub that nothing will ever start or remove; the server removes those
-- once they are older than agents.unreported_runner_timeout.

CREATE TABLE minted_runners (
    name      VARCHAR(255) PRIMARY KEY,
    repo_key  VARCHAR(140) NOT NULL,
    policy    VARCHAR(63) NOT NULL,
    agent_id  VARCHAR(36) NOT NULL,
    runner_id BIGINT NOT NULL DEFAULT 0,
    minted_at {{.Time}} NOT NULL
);

CREATE INDEX minted_runners_minted_at ON minted_runners (minted_at);
