-- Run history (issue #9): one row per logical run (a browser run's chunk
-- requests share its id), one per URL result, one per extracted product.
CREATE TABLE runs (
  id         TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,            -- Unix ms, start of the first chunk
  updated_at INTEGER NOT NULL,            -- Unix ms, end of the last chunk
  options    TEXT NOT NULL DEFAULT '{}',  -- RunOptions of the first chunk, JSON
  total      INTEGER NOT NULL DEFAULT 0,
  done       INTEGER NOT NULL DEFAULT 0,
  failed     INTEGER NOT NULL DEFAULT 0,
  cancelled  INTEGER NOT NULL DEFAULT 0,
  chunks     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_time ON runs (created_at DESC, id DESC);

CREATE TABLE results (
  run_id     TEXT NOT NULL,
  url        TEXT NOT NULL,
  outcome    TEXT NOT NULL,               -- done | failed | cancelled
  status     INTEGER,
  attempts   INTEGER NOT NULL,
  ms         INTEGER,
  bytes      INTEGER NOT NULL,
  error_kind TEXT,
  PRIMARY KEY (run_id, url)
);
CREATE INDEX results_by_url ON results (url);

CREATE TABLE products (
  run_id       TEXT NOT NULL,
  url          TEXT NOT NULL,
  name         TEXT,
  price        TEXT,                      -- normalised decimal, e.g. 129.90
  currency     TEXT,
  availability TEXT,
  sku          TEXT,
  PRIMARY KEY (run_id, url)
);
