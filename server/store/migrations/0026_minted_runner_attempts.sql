-- 0026: how many times the server asked GitHub to mint each runner (issue 15).
--
-- An agent whose credentials call timed out or met a 5xx asks again with the same runner
-- name, and the server replaces the registration GitHub made for the unanswered request
-- (a second mint). mint_attempts counts the mints of one name, so that the server stops
-- at a bound whatever its agents ask.
ALTER TABLE minted_runners ADD COLUMN mint_attempts INTEGER NOT NULL DEFAULT 0;
