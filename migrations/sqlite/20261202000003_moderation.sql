-- The moderation queue: listings organisations propose in the web portal,
-- waiting for staff. The directory itself changes only when staff approve
-- a change, so a proposal is never shown to people before then.
--
-- Keep migrations/postgres in step with this file.

CREATE TABLE listing_change (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id TEXT NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    -- The service it adds, changes or withdraws. Not a foreign key: an added
    -- service is not in the directory until the change is approved.
    service_id TEXT NOT NULL,
    -- The service's name when the change was proposed, for the queue.
    service_name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('add', 'edit', 'withdraw')),
    -- The proposed service as HSDS 3.0 JSON; none for a withdrawal.
    proposal TEXT,
    status TEXT NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'approved', 'rejected', 'superseded')),
    submitted_by TEXT REFERENCES account (id) ON DELETE SET NULL,
    -- Seconds since 1970 UTC.
    submitted_at INTEGER NOT NULL,
    decided_by TEXT REFERENCES account (id) ON DELETE SET NULL,
    decided_at INTEGER,
    -- Why staff rejected it, shown to the organisation.
    reason TEXT,
    CHECK ((kind = 'withdraw') = (proposal IS NULL))
);

CREATE INDEX listing_change_waiting ON listing_change (status, submitted_at);
CREATE INDEX listing_change_organization ON listing_change (organization_id, submitted_at);
CREATE INDEX listing_change_service ON listing_change (service_id, status);
