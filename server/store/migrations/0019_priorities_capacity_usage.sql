-- 0019: priorities, agent capacity and usage (issue 16, parts 2 and 3).
--
-- policies.priority: when capacity is short (a quota, or the agent's own capacity), the
-- queued jobs of higher-priority policies get runners first, then the oldest; a job that
-- has waited scheduling.max_wait goes ahead of every younger one whatever its priority.
ALTER TABLE policies ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;

-- What an agent reported it may hold at once (its capacity.* keys); NULL is no limit.
ALTER TABLE agents ADD COLUMN capacity_max_runners INTEGER;

ALTER TABLE agents ADD COLUMN capacity_cpu_milli BIGINT;

ALTER TABLE agents ADD COLUMN capacity_memory_bytes BIGINT;

-- Which limit holds a job that waits in its agent (waiting_for_capacity): max_runners
-- (its policy's) or agent_capacity (the agent's), as the agent reports it.
ALTER TABLE workflow_jobs ADD COLUMN agent_limit VARCHAR(32) NOT NULL DEFAULT '';

-- runner_usage: one row per runner the server minted, from its minting to the moment it
-- no longer counts against quotas (it left its agent's inventory, or was removed or swept
-- before any agent reported it). The CPU and memory are what its policy requested when
-- it was minted. /api/v1/usage and the garo_usage_* counters are derived from these rows.
CREATE TABLE runner_usage (
    id           VARCHAR(64) PRIMARY KEY,
    name         VARCHAR(255) NOT NULL,
    repo_key     VARCHAR(140) NOT NULL,
    policy       VARCHAR(63) NOT NULL,
    agent_group  VARCHAR(63) NOT NULL,
    agent_id     VARCHAR(36) NOT NULL,
    cpu_milli    BIGINT NOT NULL DEFAULT 0,
    memory_bytes BIGINT NOT NULL DEFAULT 0,
    started_at   {{.Time}} NOT NULL,
    ended_at     {{.Time}}
);

CREATE INDEX runner_usage_name ON runner_usage (name);

CREATE INDEX runner_usage_started ON runner_usage (started_at);

CREATE INDEX runner_usage_open ON runner_usage (ended_at);

-- A minted runner that runs a job counts against quotas until the job completes, also
-- before (or without) any agent's heartbeat naming it: found by the job's runner name.
CREATE INDEX workflow_jobs_runner_name ON workflow_jobs (runner_name);
