-- 0009: repository ownership per provider. A policy names its provider (docker,
-- kubernetes), an agent runs one, and an agent is offered only the policies of its own:
-- a repository with a docker and a kubernetes policy in one group is served by one agent
-- of each provider, so ownership gets the policy provider into its primary key.
-- agents.serves is the policy provider an agent serves (shared/protocol.PolicyProvider
-- of agents.provider: memory stands in for docker), kept beside it so that queries
-- compare it with policies.provider directly.

ALTER TABLE agents ADD COLUMN serves VARCHAR(20) NOT NULL DEFAULT 'docker';

UPDATE agents SET provider = 'docker' WHERE provider = '';

UPDATE agents SET serves = provider WHERE provider NOT IN ('docker', 'memory');

-- SQLite cannot change a primary key in place: the table is rebuilt. Rows keep their
-- owner; their provider is the one their owner serves (settling releases a row whose
-- repository has no policy of that provider in the group, and the right agent claims it).
CREATE TABLE repository_ownership_next (
    repo_key         VARCHAR(140) NOT NULL,
    agent_group      VARCHAR(63) NOT NULL,
    provider         VARCHAR(20) NOT NULL,
    agent_id         VARCHAR(36) NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    lease_expires_at {{.Time}} NOT NULL,
    assigned_at      {{.Time}} NOT NULL,
    PRIMARY KEY (repo_key, agent_group, provider)
);

INSERT INTO repository_ownership_next (repo_key, agent_group, provider, agent_id, lease_expires_at, assigned_at)
SELECT o.repo_key, o.agent_group, a.serves, o.agent_id, o.lease_expires_at, o.assigned_at
FROM repository_ownership o JOIN agents a ON a.id = o.agent_id;

DROP TABLE repository_ownership;

ALTER TABLE repository_ownership_next RENAME TO repository_ownership;

CREATE INDEX repository_ownership_agent ON repository_ownership (agent_id);
