-- Aggregate usage counts: how many conversations did each declared thing
-- (see src/stats/counter.rs and PRIVACY.md) on a day, or in a month once
-- days older than 90 are rolled up. No identifiers, no message text and
-- nothing finer than a day: one row per (period, event, dimensions).

CREATE TABLE usage_count (
    -- 'day', or 'month' for days rolled up after 90 days.
    period TEXT NOT NULL CHECK (period IN ('day', 'month')),
    -- The day, or the first day of the month (UTC).
    period_start DATE NOT NULL,
    -- A declared counter's name, such as 'search_made'.
    event TEXT NOT NULL,
    -- Its dimensions as canonical JSON: an object with sorted keys and
    -- string values, such as {"area":"typed","category":"any","when":"today"}.
    dimensions TEXT NOT NULL,
    count BIGINT NOT NULL CHECK (count > 0),
    PRIMARY KEY (period, period_start, event, dimensions)
);
