-- The figures GM-1 ranks, per chart period and song:
--   score  = valid plays after the room cap,   plays = valid plays before it,
--   venues = distinct venues with a valid play, rooms = distinct (venue, room).
SELECT
    period_kind, period, song_id,
    SUM(score) AS score,
    SUM(plays) AS plays,
    COUNT(DISTINCT venue_id) AS venues,
    COUNT(*) AS rooms
FROM room_period_plays
GROUP BY period_kind, period, song_id
