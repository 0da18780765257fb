-- 0004: schedule windows of a policy (min_idle overrides), a JSON array.

ALTER TABLE policies ADD COLUMN schedule TEXT NOT NULL DEFAULT '[]';
