-- 0006: when an agent first saw each runner's process running (heartbeats), which stamps
-- the runner_online step of the job the runner takes.

ALTER TABLE runners ADD COLUMN running_since {{.Time}};
