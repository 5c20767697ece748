-- The figures GM-1 ranks, per chart period and song:
--   score  = valid plays after the room cap,   plays = valid plays before it,
--   venues = distinct venues with a valid play, rooms = distinct (venue, room).
-- One branch per period kind, as in room_period_plays.sql. The plays are grouped once
-- per period, song and venue: room_figures(room_id, business_day, cap) counts them per
-- room and business day itself, and returns the plays, the score after the cap
-- (the sum of room_day_plays.sql's score) and the distinct rooms, so this equals
-- aggregating room_period_plays, with one hash aggregate instead of three.
SELECT 'month' AS period_kind, period, song_id,
       SUM(f['score']) AS score, SUM(f['plays']) AS plays, COUNT(*) AS venues,
       SUM(f['rooms']) AS rooms
FROM (
    SELECT period_of('month', business_day) AS period, song_id, venue_id,
           room_figures(room_id, business_day, gm_param('room_cap')) AS f
    FROM valid_plays
    GROUP BY period_of('month', business_day), song_id, venue_id
) AS song_venues
GROUP BY period, song_id
UNION ALL
SELECT 'year' AS period_kind, period, song_id,
       SUM(f['score']) AS score, SUM(f['plays']) AS plays, COUNT(*) AS venues,
       SUM(f['rooms']) AS rooms
FROM (
    SELECT period_of('year', business_day) AS period, song_id, venue_id,
           room_figures(room_id, business_day, gm_param('room_cap')) AS f
    FROM valid_plays
    GROUP BY period_of('year', business_day), song_id, venue_id
) AS song_venues
GROUP BY period, song_id
