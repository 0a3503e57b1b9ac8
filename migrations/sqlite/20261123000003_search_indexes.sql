-- Faster "near me": an R*Tree over the places' positions (id is the
-- location's rowid; the store keeps it in step), and an index that finds
-- phone and online services by category directly.
--
-- Keep migrations/postgres in step with this file.

DROP INDEX service_visible;

CREATE VIRTUAL TABLE x_location_box USING rtree (
    id,
    min_latitude, max_latitude,
    min_longitude, max_longitude
);

INSERT INTO x_location_box
SELECT rowid, latitude, latitude, longitude, longitude FROM location
WHERE latitude IS NOT NULL AND longitude IS NOT NULL;

ALTER TABLE x_service_category ADD COLUMN online INTEGER NOT NULL DEFAULT 0
    CHECK (online IN (0, 1));

UPDATE x_service_category
SET online = (SELECT x_online FROM service WHERE service.id = x_service_category.service_id);

CREATE INDEX x_service_category_online ON x_service_category (category, online, service_id);

-- Covering indexes for the search's joins and its "next occurrence"
-- subquery, so they are answered from the index alone.
DROP INDEX x_occurrence_service;
CREATE INDEX x_occurrence_next ON x_occurrence
    (service_id, local_date, local_minute, starts_at, ends_at, service_at_location_id);
DROP INDEX service_at_location_location;
CREATE INDEX service_at_location_location ON service_at_location (location_id, service_id, id);
