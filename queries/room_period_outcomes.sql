-- What became of the play events of each chart period (month and year), per venue
-- and room: the events by exclusion (NULL for valid plays) and the play rows they
-- came from, re-sent copies included. One row per period, room and outcome, so it
-- is small: data_quality and the coverage's active venues and rooms read it.
-- One branch per period kind, as in room_period_plays.sql.
SELECT
    'month' AS period_kind, period_of('month', business_day) AS period,
    venue_id, room_id, exclusion,
    COUNT(*) AS events,
    SUM(copies) AS rows_received
FROM classified_plays
WHERE business_day IS NOT NULL
GROUP BY period_of('month', business_day), venue_id, room_id, exclusion
UNION ALL
SELECT
    'year' AS period_kind, period_of('year', business_day) AS period,
    venue_id, room_id, exclusion,
    COUNT(*) AS events,
    SUM(copies) AS rows_received
FROM classified_plays
WHERE business_day IS NOT NULL
GROUP BY period_of('year', business_day), venue_id, room_id, exclusion
