-- Where each listing change came from: the organisation's account in the
-- portal, its own system through an API token, or its calendar feed. Staff
-- see it in the queue, and a calendar feed never replaces a change a person
-- sent. Changes made before this column existed came from accounts: the
-- API and the feeds arrived with it.
--
-- Keep migrations/sqlite and migrations/postgres in step.

ALTER TABLE listing_change ADD COLUMN origin TEXT NOT NULL DEFAULT 'account'
    CHECK (origin IN ('account', 'api', 'feed'));
