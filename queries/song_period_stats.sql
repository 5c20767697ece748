-- The figures GM-1 ranks, per chart period and song:
--   score  = valid plays after the room cap,   plays = valid plays before it,
--   venues = distinct venues with a valid play, rooms = distinct (venue, room).
-- One branch per period kind, as in room_period_plays.sql; venues and rooms are
-- counted by grouping per venue first (rows of room_period_plays are distinct rooms).
SELECT 'month' AS period_kind, period, song_id,
       SUM(score) AS score, SUM(plays) AS plays, COUNT(*) AS venues, SUM(rooms) AS rooms
FROM (
    SELECT period, song_id, venue_id,
           SUM(score) AS score, SUM(plays) AS plays, COUNT(*) AS rooms
    FROM room_period_plays
    WHERE period_kind = 'month'
    GROUP BY period, song_id, venue_id
) AS song_venues
GROUP BY period, song_id
UNION ALL
SELECT 'year' AS period_kind, period, song_id,
       SUM(score) AS score, SUM(plays) AS plays, COUNT(*) AS venues, SUM(rooms) AS rooms
FROM (
    SELECT period, song_id, venue_id,
           SUM(score) AS score, SUM(plays) AS plays, COUNT(*) AS rooms
    FROM room_period_plays
    WHERE period_kind = 'year'
    GROUP BY period, song_id, venue_id
) AS song_venues
GROUP BY period, song_id
