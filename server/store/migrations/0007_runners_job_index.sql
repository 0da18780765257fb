-- 0007: heartbeats stamp the runner_online step of the jobs that busy runners run, looked
-- up by job id.

CREATE INDEX runners_job ON runners (job_id);
