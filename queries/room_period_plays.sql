-- Valid plays and score per chart period, venue, room and song, for every calendar
-- month (period_kind 'month', period 'YYYY-MM') and year ('year', 'YYYY') with plays.
-- One branch per period kind, so that a filter on period_kind computes only its own
-- (and each branch groups by plain columns, which DataFusion aggregates fastest).
SELECT
    'month' AS period_kind, period_of('month', business_day) AS period,
    venue_id, room_id, song_id,
    SUM(plays) AS plays,
    SUM(score) AS score
FROM room_day_plays
GROUP BY period_of('month', business_day), venue_id, room_id, song_id
UNION ALL
SELECT
    'year' AS period_kind, period_of('year', business_day) AS period,
    venue_id, room_id, song_id,
    SUM(plays) AS plays,
    SUM(score) AS score
FROM room_day_plays
GROUP BY period_of('year', business_day), venue_id, room_id, song_id
