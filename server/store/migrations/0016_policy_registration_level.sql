-- 0016: where a policy's runners register on GitHub.
--
-- registration_level: 'repository' (every policy so far) or 'organization' (the runners
-- register in the repository owner's organisation). runner_group: the GitHub runner group,
-- by name, of an organisation-level policy (empty at repository level), resolved to its id
-- when runners are minted (GitHub matches runs-on: {group: NAME} by name too).
ALTER TABLE policies ADD COLUMN registration_level VARCHAR(16) NOT NULL DEFAULT 'repository';

ALTER TABLE policies ADD COLUMN runner_group VARCHAR(100) NOT NULL DEFAULT '';
