-- A service's next occurrence is the first in start order that falls in the
-- window asked for. Ordered by service, then start, SQLite answers `min()`
-- by reading from the soonest entry and stopping at the first that fits,
-- rather than reading every occurrence in the window. Still covering, so
-- the table itself is never read.
--
-- Keep migrations/postgres in step with this file.

DROP INDEX x_occurrence_next;
CREATE INDEX x_occurrence_soonest ON x_occurrence
    (service_id, starts_at, local_date, local_minute, ends_at, service_at_location_id);
