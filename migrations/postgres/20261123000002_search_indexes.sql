-- Faster "near me": a GiST index over the places' positions, and an index
-- that finds phone and online services by category directly.
--
-- Keep migrations/sqlite in step with this file.

DROP INDEX service_visible;

CREATE INDEX location_point ON location USING gist (point(longitude, latitude))
    WHERE latitude IS NOT NULL AND longitude IS NOT NULL;

ALTER TABLE x_service_category ADD COLUMN online BOOLEAN NOT NULL DEFAULT FALSE;

CREATE INDEX x_service_category_online ON x_service_category (category, online, service_id);

-- Covering indexes for the search's joins and its "next occurrence"
-- subquery, so they are answered from the index alone.
DROP INDEX x_occurrence_service;
CREATE INDEX x_occurrence_next ON x_occurrence
    (service_id, local_date, local_minute, starts_at, ends_at, service_at_location_id);
DROP INDEX service_at_location_location;
CREATE INDEX service_at_location_location ON service_at_location (location_id, service_id, id);
