-- 0023: a revision of each agent's runner rows (issue 15).
--
-- runners_rev moves whenever a row of the agent's inventory (runners) is written or
-- deleted, in the same transaction. A server keeps the inventory of an agent's last
-- heartbeat in memory with the revision it read; a heartbeat that finds the same revision
-- diffs against that copy instead of reading thousands of rows again.
ALTER TABLE agents ADD COLUMN runners_rev BIGINT NOT NULL DEFAULT 0;

-- The ownership check of every heartbeat and poll (OwnershipSettled) looks up, for each
-- ownership row of a group, its repository's policies of that group and provider. Without
-- this index SQLite took every policy of the group for each row: quadratic in the
-- policies (issue 15).
CREATE INDEX policies_repo_group_provider ON policies (repo_key, agent_group, provider);
