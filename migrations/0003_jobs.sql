-- Background jobs (issue #19): one row per job, kept up to date by the
-- job's Durable Object (the source of truth), for the job list. A job's
-- results are a run of the same id in runs/results/products.
CREATE TABLE jobs (
  id          TEXT PRIMARY KEY,
  created_at  INTEGER NOT NULL,           -- Unix ms
  updated_at  INTEGER NOT NULL,           -- Unix ms of the last update
  state       TEXT NOT NULL,              -- queued | running | done | cancelled | failed
  kind        TEXT NOT NULL,              -- list | sitemap | crawl
  total       INTEGER NOT NULL DEFAULT 0,
  pending     INTEGER NOT NULL DEFAULT 0,
  in_flight   INTEGER NOT NULL DEFAULT 0,
  done        INTEGER NOT NULL DEFAULT 0,
  failed      INTEGER NOT NULL DEFAULT 0,
  cancelled   INTEGER NOT NULL DEFAULT 0,
  started_at  INTEGER,
  finished_at INTEGER,
  throughput  REAL NOT NULL DEFAULT 0,
  last_seq    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_time ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_active ON jobs (state);
