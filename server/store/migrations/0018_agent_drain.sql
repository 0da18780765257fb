-- 0018: an administrator may drain an agent (PUT /api/v1/agents/{id}/drain).
--
-- drain_requested_at is when the drain was asked for (NULL: not drained); the request
-- stays until it is lifted (DELETE .../drain), across restarts of the agent and of the
-- server: each heartbeat answers drain=true while it is set. drain_requested_by is the
-- actor who asked ("token:<id>"), "" when not drained.
ALTER TABLE agents ADD COLUMN drain_requested_at {{.Time}};
ALTER TABLE agents ADD COLUMN drain_requested_by VARCHAR(200) NOT NULL DEFAULT '';
