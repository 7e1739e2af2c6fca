-- A watch run's URLs against the run before it: {"changed", "unchanged",
-- "failed"} as JSON; NULL for a first run, or until it is evaluated.
ALTER TABLE watch_runs ADD COLUMN counts TEXT;
