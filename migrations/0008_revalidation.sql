-- Conditional re-fetch (#26): a result that answered 304 to its validators
-- is unchanged (not_modified = 1), downloaded nothing, and records the body
-- size it did not download (bytes_saved), so the next revalidation of the
-- URL still knows the page's size.
ALTER TABLE results ADD COLUMN not_modified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN bytes_saved INTEGER NOT NULL DEFAULT 0;
