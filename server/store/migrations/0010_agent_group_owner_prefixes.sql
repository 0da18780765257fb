-- 0010: agent groups belong to tenants. owner_prefixes (a JSON array of lower-cased
-- prefixes of "owner/name", as on api_tokens) are the repositories a group may serve; a
-- policy may name a group only for a repository within them. Existing groups, the
-- default group among them, get [] on upgrade: they serve every owner, as they did, and
-- only tokens without owner prefixes may manage them (server/auth/authorize.go).

ALTER TABLE agent_groups ADD COLUMN owner_prefixes TEXT NOT NULL DEFAULT '[]';
