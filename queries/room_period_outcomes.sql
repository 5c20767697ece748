-- What became of the play events of each chart period (month and year), per venue
-- and room: the events by exclusion (NULL for valid plays) and the play rows they
-- came from, re-sent copies included. One row per period, room and outcome, so it
-- is small: data_quality and the coverage's active venues and rooms read it.
-- The events are counted per business day first (a Date32 key, about a million
-- rows), then per period; one branch per period kind, as in room_period_plays.sql.
WITH room_day_outcomes AS (
    SELECT business_day, venue_id, room_id, exclusion,
           COUNT(*) AS events,
           SUM(copies) AS rows_received
    FROM classified_plays
    WHERE business_day IS NOT NULL
    GROUP BY business_day, venue_id, room_id, exclusion
)
SELECT
    'month' AS period_kind, period_of('month', business_day) AS period,
    venue_id, room_id, exclusion,
    SUM(events) AS events,
    SUM(rows_received) AS rows_received
FROM room_day_outcomes
GROUP BY period_of('month', business_day), venue_id, room_id, exclusion
UNION ALL
SELECT
    'year' AS period_kind, period_of('year', business_day) AS period,
    venue_id, room_id, exclusion,
    SUM(events) AS events,
    SUM(rows_received) AS rows_received
FROM room_day_outcomes
GROUP BY period_of('year', business_day), venue_id, room_id, exclusion
