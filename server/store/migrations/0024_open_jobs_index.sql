-- 0024: the open jobs of a repository, apart from its history (issue 15).
--
-- Every jobs-poll answer reads the open (not completed) jobs of the agent's repositories.
-- With only workflow_jobs_repo_state, "state <> 'completed'" walked every job the
-- repositories ever had: 13 ms an answer after 20,000 completed jobs on PostgreSQL
-- (pg_stat_statements of a webhook intake run), growing with the history. This partial
-- index holds the open jobs alone, in the answer's order; the query names the literal
-- 'completed' so that both planners prove the index's predicate.
CREATE INDEX workflow_jobs_open ON workflow_jobs (repo_key, received_at, id) WHERE state <> 'completed';
