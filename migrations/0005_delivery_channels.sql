-- Watches alert Slack and Discord channels besides the signed webhook: each
-- delivery attempt says which channel it went to.
ALTER TABLE deliveries ADD COLUMN channel TEXT NOT NULL DEFAULT 'webhook';
