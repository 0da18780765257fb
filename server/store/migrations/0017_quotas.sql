-- 0017: quotas. An administrator caps what a team (an owner prefix, such as
-- "acme/team-a") or a pool of hardware (an agent group) may hold at once: runners, and
-- the CPU and memory their policies request, in total. A NULL limit is no limit.
-- subject is the lower-cased prefix or the group's name; (kind, subject) is unique.
-- Credentials are minted only while every quota that covers the runner has room
-- (server/agents, server/quotas): the rows are locked FOR UPDATE on PostgreSQL while a
-- mint is admitted, so replicas admit one after the other.
CREATE TABLE quotas (
    id           VARCHAR(64) PRIMARY KEY,
    kind         VARCHAR(32) NOT NULL,
    subject      VARCHAR(200) NOT NULL,
    max_runners  INTEGER,
    max_cpu_milli BIGINT,
    max_memory_bytes BIGINT,
    description  TEXT NOT NULL DEFAULT '',
    created_at   {{.Time}} NOT NULL,
    updated_at   {{.Time}} NOT NULL
);

CREATE UNIQUE INDEX quotas_kind_subject ON quotas (kind, subject);
