-- Watches (issue #20): a job run on a schedule, with alert rules and a
-- webhook. The Cron Trigger reads the due ones (next_run_at); each run is a
-- background job (jobs, and a run of the same id), listed in watch_runs
-- with what its rules matched; every webhook attempt is in deliveries.
CREATE TABLE watches (
  id               TEXT PRIMARY KEY,
  name             TEXT,
  spec             TEXT NOT NULL,           -- JSON: {job, schedule, rules, webhook_url}
  own_origin       TEXT NOT NULL,           -- the edge's origin when created (its demo shop)
  secret           TEXT,                    -- the webhook's HMAC key
  created_at       INTEGER NOT NULL,        -- Unix ms
  updated_at       INTEGER NOT NULL,
  next_run_at      INTEGER,                 -- Unix ms; NULL while paused
  runs             INTEGER NOT NULL DEFAULT 0,
  last_job_id      TEXT,
  last_skip_at     INTEGER,
  last_skip_reason TEXT
);
CREATE INDEX watches_due ON watches (next_run_at);
CREATE INDEX watches_by_time ON watches (created_at DESC, id DESC);

CREATE TABLE watch_runs (
  watch_id      TEXT NOT NULL,
  job_id        TEXT NOT NULL,
  started_at    INTEGER NOT NULL,
  finished_at   INTEGER,
  state         TEXT NOT NULL,              -- the job's state
  trigger       TEXT NOT NULL,              -- schedule | manual
  evaluated     INTEGER NOT NULL DEFAULT 0,
  compared_with TEXT,
  alerts        TEXT NOT NULL DEFAULT '[]', -- JSON: what the rules matched
  PRIMARY KEY (watch_id, job_id)
);
CREATE INDEX watch_runs_by_time ON watch_runs (watch_id, started_at DESC);

CREATE TABLE deliveries (
  watch_id    TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  run_id      TEXT NOT NULL,
  attempt     INTEGER NOT NULL,
  at          INTEGER NOT NULL,
  status      INTEGER,
  error       TEXT,
  ms          INTEGER NOT NULL,
  outcome     TEXT NOT NULL,                -- delivered | retrying | failed
  next_at     INTEGER,
  PRIMARY KEY (delivery_id, attempt)
);
CREATE INDEX deliveries_by_watch ON deliveries (watch_id, at DESC);
