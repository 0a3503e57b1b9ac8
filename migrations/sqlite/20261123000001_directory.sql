-- The first cut of the directory: organisations, places, activities and the
-- categories people search by. Nothing here describes the people who use
-- the bot: conversations are never stored.

CREATE TABLE category (
    slug TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

INSERT INTO category (slug, name) VALUES
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

CREATE TABLE organisation (
    id INTEGER PRIMARY KEY,
    -- Where the record came from ('sample', or an import) and its id there,
    -- so that loading the same data again updates rather than duplicates.
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    website TEXT,
    phone TEXT,
    email TEXT,
    UNIQUE (source, source_id)
);

CREATE TABLE place (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT,
    postcode TEXT,
    -- The first half of the postcode, in capitals, for "near HD1" searches.
    outcode TEXT,
    -- The town people know the place by, for "in Batley" searches.
    area TEXT NOT NULL,
    latitude REAL CHECK (latitude BETWEEN -90 AND 90),
    longitude REAL CHECK (longitude BETWEEN -180 AND 180),
    step_free INTEGER CHECK (step_free IN (0, 1)),
    UNIQUE (source, source_id)
);

CREATE INDEX place_outcode ON place (outcode);
CREATE INDEX place_area ON place (area COLLATE NOCASE);

CREATE TABLE activity (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    organisation_id INTEGER NOT NULL REFERENCES organisation (id) ON DELETE CASCADE,
    -- NULL for phone and online services that work from anywhere.
    place_id INTEGER REFERENCES place (id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    description TEXT,
    online INTEGER NOT NULL DEFAULT 0 CHECK (online IN (0, 1)),
    schedule_kind TEXT NOT NULL CHECK (schedule_kind IN ('weekly', 'once', 'ongoing')),
    -- ISO weekday, 1 = Monday, for weekly activities.
    weekday INTEGER CHECK (weekday BETWEEN 1 AND 7),
    -- ISO date (YYYY-MM-DD) for one-off events.
    on_date TEXT,
    -- Local UK times, HH:MM.
    start_time TEXT,
    end_time TEXT,
    -- Free text for ongoing services ("Every day, 8am to 8pm").
    availability TEXT,
    cost TEXT,
    free INTEGER NOT NULL DEFAULT 0 CHECK (free IN (0, 1)),
    contact TEXT,
    how_to_join TEXT,
    UNIQUE (source, source_id),
    CHECK (
        (schedule_kind = 'weekly' AND weekday IS NOT NULL AND start_time IS NOT NULL)
        OR (schedule_kind = 'once' AND on_date IS NOT NULL AND start_time IS NOT NULL)
        OR (schedule_kind = 'ongoing')
    )
);

CREATE INDEX activity_place ON activity (place_id);

CREATE TABLE activity_category (
    activity_id INTEGER NOT NULL REFERENCES activity (id) ON DELETE CASCADE,
    category TEXT NOT NULL REFERENCES category (slug),
    PRIMARY KEY (activity_id, category)
);

CREATE INDEX activity_category_by_category ON activity_category (category, activity_id);
