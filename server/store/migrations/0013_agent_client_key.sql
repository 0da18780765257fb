-- 0013: an agent's client certificate is bound to its identity at registration.
--
-- client_key_sha256 is the hex SHA-256 of the public key (SubjectPublicKeyInfo) of the
-- client certificate the agent registered with, when it presented one: every later call
-- of the agent must present a certificate on the same key. Empty: registered without a
-- client certificate, not bound.
ALTER TABLE agents ADD COLUMN client_key_sha256 VARCHAR(64) NOT NULL DEFAULT '';
