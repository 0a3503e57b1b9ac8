-- Organisations' iCalendar feeds: one web address per organisation, fetched
-- on a schedule. Each new or changed event goes into the moderation queue
-- (listing_change) as a proposal, so staff still check every listing.
--
-- Keep migrations/postgres in step with this file.

CREATE TABLE calendar_feed (
    organization_id TEXT PRIMARY KEY REFERENCES organization (id) ON DELETE CASCADE,
    -- http or https only (a webcal:// address is stored as https://).
    url TEXT NOT NULL,
    set_by TEXT REFERENCES account (id) ON DELETE SET NULL,
    -- Seconds since 1970 UTC.
    set_at INTEGER NOT NULL,
    -- The last fetch: when, whether the calendar was read ('read') or not
    -- ('failed'), what happened (for the organisation to read) and how
    -- many events it held. NULL until the first fetch.
    fetched_at INTEGER,
    fetch_result TEXT CHECK (fetch_result IN ('read', 'failed')),
    outcome TEXT,
    event_count INTEGER
);

-- The last version of each feed event put in the queue, so a fetch queues
-- only new and changed events, and an event that leaves the feed is
-- proposed for withdrawal once. Keyed by organisation rather than by feed,
-- so taking a feed away and giving it again does not queue everything anew.
CREATE TABLE calendar_feed_event (
    organization_id TEXT NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    -- The service the event becomes (derived from the organisation and the
    -- event's UID, so the same event keeps the same service).
    service_id TEXT NOT NULL,
    -- SHA-256 of the HSDS JSON last proposed for it.
    fingerprint TEXT NOT NULL,
    proposed_at INTEGER NOT NULL,
    PRIMARY KEY (organization_id, service_id)
);
