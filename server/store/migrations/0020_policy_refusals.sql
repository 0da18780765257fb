-- 0020: why GitHub will not take a policy's runners, and where a minted runner registered.
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

-- registration_level of a minted runner: where its policy registered it ('repository' or
-- 'organization'), so that it is removed through the right GitHub routes even after its
-- policy was deleted or moved to the other level. '' for rows minted before 0020: the
-- level of the policy, if it still exists, decides for those.
ALTER TABLE minted_runners ADD COLUMN registration_level VARCHAR(16) NOT NULL DEFAULT '';
