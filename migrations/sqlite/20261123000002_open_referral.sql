-- The directory in the shape of Open Referral HSDS 3.0, replacing the first
-- cut. Table and column names follow HSDS; our additions start with x_, as
-- HSDS's extension rule asks. Columns hold what the bot searches or shows;
-- every other HSDS field a record arrived with is kept verbatim in `extra`
-- (JSON), so an export gives back what an import took in.
--
-- Every imported record carries its source and its id there (x_source,
-- x_source_id), so importing the same file again updates rather than
-- duplicates, and x_hash, so an unchanged record is left alone.
--
-- Keep migrations/postgres in step with this file.

DROP TABLE activity_category;
DROP TABLE activity;
DROP TABLE place;
DROP TABLE organisation;
DROP TABLE category;

CREATE TABLE organization (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    email TEXT,
    website TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    x_source TEXT NOT NULL,
    x_source_id TEXT NOT NULL,
    x_hash TEXT NOT NULL,
    UNIQUE (x_source, x_source_id)
);

CREATE TABLE service (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    url TEXT,
    email TEXT,
    status TEXT NOT NULL,
    fees_description TEXT,
    application_process TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    x_free INTEGER CHECK (x_free IN (0, 1)),
    x_online INTEGER NOT NULL DEFAULT 0 CHECK (x_online IN (0, 1)),
    -- Whether any schedule can be placed on a calendar; services without
    -- one (a phone line, a befriending scheme) are available any day.
    x_dated INTEGER NOT NULL DEFAULT 0 CHECK (x_dated IN (0, 1)),
    x_status TEXT NOT NULL DEFAULT 'pending'
        CHECK (x_status IN ('pending', 'published', 'rejected')),
    x_last_confirmed TEXT,
    x_expires TEXT,
    x_source TEXT NOT NULL,
    x_source_id TEXT NOT NULL,
    x_hash TEXT NOT NULL,
    UNIQUE (x_source, x_source_id)
);

CREATE INDEX service_organization ON service (organization_id);
CREATE INDEX service_visible ON service (x_status, status);

CREATE TABLE location (
    id TEXT PRIMARY KEY,
    location_type TEXT NOT NULL,
    organization_id TEXT REFERENCES organization (id) ON DELETE SET NULL,
    name TEXT,
    description TEXT,
    latitude REAL CHECK (latitude BETWEEN -90 AND 90),
    longitude REAL CHECK (longitude BETWEEN -180 AND 180),
    extra TEXT NOT NULL DEFAULT '{}',
    x_step_free INTEGER CHECK (x_step_free IN (0, 1)),
    -- From the first address: the outcode (HD1) and the town in lower case,
    -- for "near HD1" and "in Batley" searches.
    x_outcode TEXT,
    x_town TEXT,
    x_source TEXT NOT NULL,
    x_source_id TEXT NOT NULL,
    x_hash TEXT NOT NULL,
    UNIQUE (x_source, x_source_id)
);

CREATE INDEX location_position ON location (latitude, longitude);
CREATE INDEX location_outcode ON location (x_outcode);
CREATE INDEX location_town ON location (x_town);

CREATE TABLE address (
    id TEXT PRIMARY KEY,
    location_id TEXT NOT NULL REFERENCES location (id) ON DELETE CASCADE,
    address_1 TEXT NOT NULL,
    address_2 TEXT,
    city TEXT NOT NULL,
    region TEXT,
    state_province TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    country TEXT NOT NULL,
    address_type TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    x_position INTEGER NOT NULL
);

CREATE INDEX address_location ON address (location_id);

CREATE TABLE service_at_location (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES service (id) ON DELETE CASCADE,
    location_id TEXT NOT NULL REFERENCES location (id) ON DELETE CASCADE,
    description TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    x_source TEXT NOT NULL,
    x_source_id TEXT NOT NULL,
    x_hash TEXT NOT NULL,
    UNIQUE (x_source, x_source_id)
);

CREATE INDEX service_at_location_service ON service_at_location (service_id);
CREATE INDEX service_at_location_location ON service_at_location (location_id);

-- Phones belong to exactly one record.
CREATE TABLE phone (
    id TEXT PRIMARY KEY,
    organization_id TEXT REFERENCES organization (id) ON DELETE CASCADE,
    service_id TEXT REFERENCES service (id) ON DELETE CASCADE,
    location_id TEXT REFERENCES location (id) ON DELETE CASCADE,
    service_at_location_id TEXT REFERENCES service_at_location (id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    description TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    x_position INTEGER NOT NULL
);

CREATE INDEX phone_organization ON phone (organization_id);
CREATE INDEX phone_service ON phone (service_id);
CREATE INDEX phone_location ON phone (location_id);
CREATE INDEX phone_service_at_location ON phone (service_at_location_id);

CREATE TABLE schedule (
    id TEXT PRIMARY KEY,
    service_id TEXT REFERENCES service (id) ON DELETE CASCADE,
    service_at_location_id TEXT REFERENCES service_at_location (id) ON DELETE CASCADE,
    description TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    -- The full iCalendar rule and its exceptions, as JSON.
    x_recurrence TEXT,
    x_position INTEGER NOT NULL
);

CREATE INDEX schedule_service ON schedule (service_id);
CREATE INDEX schedule_service_at_location ON schedule (service_at_location_id);

CREATE TABLE taxonomy (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    x_source TEXT NOT NULL,
    x_source_id TEXT NOT NULL,
    x_hash TEXT NOT NULL,
    UNIQUE (x_source, x_source_id)
);

CREATE TABLE taxonomy_term (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    code TEXT,
    taxonomy_id TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    x_source TEXT NOT NULL,
    x_source_id TEXT NOT NULL,
    x_hash TEXT NOT NULL,
    UNIQUE (x_source, x_source_id)
);

-- Attributes link a service to a taxonomy term, which need not be in the
-- directory itself (a term of a published taxonomy, say).
CREATE TABLE attribute (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES service (id) ON DELETE CASCADE,
    taxonomy_term_id TEXT NOT NULL,
    value TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    x_position INTEGER NOT NULL
);

CREATE INDEX attribute_service ON attribute (service_id);

-- What people search by.
CREATE TABLE x_category (
    slug TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

INSERT INTO x_category (slug, name) VALUES
    ('befriending', 'Befriending'),
    ('social-groups', 'Social groups'),
    ('peer-support', 'Peer support'),
    ('bereavement', 'Bereavement'),
    ('carers', 'Carers'),
    ('mental-wellbeing', 'Mental wellbeing'),
    ('older-people', 'Older people'),
    ('young-people', 'Young people'),
    ('lgbtq', 'LGBTQ+'),
    ('phone-online', 'Phone and online support'),
    ('volunteering', 'Volunteering'),
    ('physical-activity', 'Physical activity');

CREATE TABLE x_service_category (
    service_id TEXT NOT NULL REFERENCES service (id) ON DELETE CASCADE,
    category TEXT NOT NULL REFERENCES x_category (slug),
    PRIMARY KEY (service_id, category)
);

CREATE INDEX x_service_category_by_category ON x_service_category (category, service_id);

-- Dated occurrences, expanded from the schedules' rules a few weeks ahead,
-- so "what's on this week" is an index range rather than rule arithmetic.
-- Rebuilt for a service whenever it changes, and rolled forward daily.
CREATE TABLE x_occurrence (
    schedule_id TEXT NOT NULL REFERENCES schedule (id) ON DELETE CASCADE,
    service_id TEXT NOT NULL REFERENCES service (id) ON DELETE CASCADE,
    -- NULL when the schedule is the service's own, for all its locations.
    service_at_location_id TEXT REFERENCES service_at_location (id) ON DELETE CASCADE,
    -- Seconds since 1970 UTC.
    starts_at INTEGER NOT NULL,
    ends_at INTEGER,
    -- Europe/London (or the schedule's zone) date and start, in minutes
    -- after midnight, for "today" and "evenings".
    local_date TEXT NOT NULL,
    local_minute INTEGER NOT NULL,
    all_day INTEGER NOT NULL CHECK (all_day IN (0, 1))
);

CREATE INDEX x_occurrence_service ON x_occurrence (service_id, local_date);
CREATE INDEX x_occurrence_schedule ON x_occurrence (schedule_id);
CREATE INDEX x_occurrence_date ON x_occurrence (local_date);

-- How far ahead occurrences have been expanded.
CREATE TABLE x_occurrence_horizon (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    expanded_from TEXT NOT NULL,
    expanded_to TEXT NOT NULL
);

-- Full-text search over services, kept in step by the store (rowid is the
-- service's rowid).
CREATE VIRTUAL TABLE x_service_text USING fts5 (
    name, description, organization,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

-- Outcode centroids, for "near HD1"; each row names the dataset it came
-- from, whose attribution travels with it.
CREATE TABLE x_geo_dataset (
    name TEXT PRIMARY KEY,
    attribution TEXT NOT NULL
);

CREATE TABLE x_outcode (
    outcode TEXT PRIMARY KEY,
    latitude REAL NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude REAL NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    dataset TEXT NOT NULL REFERENCES x_geo_dataset (name) ON DELETE CASCADE
);
