-- 0020: why GitHub will not take a policy's runners.
--
-- policy_refusals holds, per policy, the last refusal to register one of its runners that
-- retrying does not cure: its organisation runner group may not serve the repository, or
-- the organisation refuses repository-level runners there (server/githubapp's
-- RefusalError). The portal shows it as the policy's serving state and as the reason of
-- its waiting jobs. policy_version is the policy's version when it was refused: a changed
-- policy (another runner_group, another level) is not held to an old refusal. A runner
-- minted for the policy deletes the row.
CREATE TABLE policy_refusals (
    policy_id      VARCHAR(36) PRIMARY KEY,
    policy_version BIGINT NOT NULL,
    reason         TEXT NOT NULL,
    refused_at     {{.Time}} NOT NULL
);
