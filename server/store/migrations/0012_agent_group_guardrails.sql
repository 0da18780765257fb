-- 0012: agent groups carry guardrails, the constraints an administrator sets on what the
-- runners of the group's policies may be (shared/guardrails.Constraints as a JSON object).
-- '{}' is the default of every group, the existing ones among them: any image, the
-- agent's own network mode, named volumes of the policy's owner only, the default set of
-- refused environment names (docs/security.md, "Guardrails").

ALTER TABLE agent_groups ADD COLUMN guardrails TEXT NOT NULL DEFAULT '{}';
