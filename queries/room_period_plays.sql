-- Valid plays and score per chart period, venue, room and song, for every calendar
-- month (period_kind 'month', period 'YYYY-MM') and year ('year', 'YYYY') with plays.
SELECT
    k.period_kind,
    period_of(k.period_kind, r.business_day) AS period,
    r.venue_id, r.room_id, r.song_id,
    SUM(r.plays) AS plays,
    SUM(r.score) AS score
FROM room_day_plays AS r
CROSS JOIN (VALUES ('month'), ('year')) AS k(period_kind)
GROUP BY k.period_kind, period_of(k.period_kind, r.business_day), r.venue_id, r.room_id, r.song_id
