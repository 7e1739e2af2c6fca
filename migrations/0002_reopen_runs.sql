-- Reopening a saved run (issue #9): each result keeps its place in the run
-- (the index of its URL in the list the browser was given) and its events as
-- they streamed (attempt starts, retries, outcome), so the history view can
-- show the same table, waterfall and statistics as the live run.
ALTER TABLE results ADD COLUMN idx INTEGER;       -- NULL for rows saved before this migration
ALTER TABLE results ADD COLUMN timeline TEXT;     -- JSON of fanout_shared::history::Timeline
