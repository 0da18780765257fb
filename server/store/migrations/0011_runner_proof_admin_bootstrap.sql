-- 0011: runner removal proves ownership; the bootstrap admin token is made once.
--
-- minted_runners keeps a runner after its agent reported it (reported_at set) instead of
-- forgetting it: the row is the server's own record that it minted this runner (name,
-- repository, GitHub id) for this agent, the proof an agent's claim in a heartbeat and its
-- removal request are checked against. Rows without reported_at are the unreported ones
-- the sweep removes, as before. Rows of runners whose agent reported them and that no
-- agent holds any more are dropped by the sweep after a week.
ALTER TABLE minted_runners ADD COLUMN reported_at {{.Time}};

CREATE INDEX minted_runners_agent ON minted_runners (agent_id);

-- server_state holds facts about the installation, one row per name. admin_bootstrap:
-- the first admin token was made (its id): a later start never makes or adopts one again.
CREATE TABLE server_state (
    name       VARCHAR(63) PRIMARY KEY,
    value      VARCHAR(255) NOT NULL,
    updated_at {{.Time}} NOT NULL
);

-- A database that has tokens, or a record of one made, was bootstrapped already.
INSERT INTO server_state (name, value, updated_at)
SELECT 'admin_bootstrap', 'before migration 0011', CURRENT_TIMESTAMP
WHERE EXISTS (SELECT 1 FROM api_tokens) OR EXISTS (SELECT 1 FROM audit_events WHERE action = 'token.create');

-- Runners reported before this migration were forgotten by minted_runners once reported:
-- their agents' rows stand in for the record (trusted once, as the server trusted them
-- until now), so that agents can still remove the runners they hold.
INSERT INTO minted_runners (name, repo_key, policy, agent_id, runner_id, minted_at, reported_at)
SELECT name, repo_key, policy, agent_id, runner_id, created_at, updated_at FROM runners
WHERE name NOT IN (SELECT name FROM minted_runners);
