-- 0008: the serving agent's reason for a job's agent state (backing_off: why its policy is
-- held back) and when it tries again.

ALTER TABLE workflow_jobs ADD COLUMN agent_reason TEXT NOT NULL DEFAULT '';

ALTER TABLE workflow_jobs ADD COLUMN agent_retry_at {{.Time}};
