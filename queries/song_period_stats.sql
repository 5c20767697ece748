-- The figures GM-1 ranks, per chart period and song:
--   score  = valid plays after the room cap,   plays = valid plays before it,
--   venues = distinct venues with a valid play, rooms = distinct (venue, room).
-- One branch per period kind, as in room_period_plays.sql. The plays are grouped once
-- per period and song: room_figures(venue_id, room_id, business_day, cap) counts them
-- per room (a venue's room) and business day itself, and returns the plays, the score
-- after the cap (the sum of room_day_plays.sql's score), the distinct rooms and the
-- distinct venues, so this equals aggregating room_period_plays by song, with one hash
-- aggregate instead of four. The plays are grouped by the period's first day
-- (date_trunc: an integer key, cheaper to hash and compare than period_of's text;
-- measured when this was written: git log -S date_trunc), named by period_of after.
SELECT 'month' AS period_kind, period_of('month', CAST(period_start AS DATE)) AS period, song_id,
       f['score'] AS score, f['plays'] AS plays, f['venues'] AS venues, f['rooms'] AS rooms
FROM (
    SELECT date_trunc('month', business_day) AS period_start, song_id,
           room_figures(venue_id, room_id, business_day, gm_param('room_cap')) AS f
    FROM valid_plays
    GROUP BY date_trunc('month', business_day), song_id
) AS songs
UNION ALL
SELECT 'year' AS period_kind, period_of('year', CAST(period_start AS DATE)) AS period, song_id,
       f['score'] AS score, f['plays'] AS plays, f['venues'] AS venues, f['rooms'] AS rooms
FROM (
    SELECT date_trunc('year', business_day) AS period_start, song_id,
           room_figures(venue_id, room_id, business_day, gm_param('room_cap')) AS f
    FROM valid_plays
    GROUP BY date_trunc('year', business_day), song_id
) AS songs
