-- Each saved page's cache validators, as its answer gave them: what a later
-- fetch of the URL can revalidate with (If-None-Match, If-Modified-Since).
ALTER TABLE results ADD COLUMN etag TEXT;
ALTER TABLE results ADD COLUMN last_modified TEXT;
