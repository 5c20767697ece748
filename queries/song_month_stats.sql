-- The per-song monthly figures the Golden Mic charts rank (see song_period_stats.sql),
-- one row per calendar month ('YYYY-MM') and song with a valid play:
--   score  = valid plays after the room cap,   plays = valid plays before it,
--   venues = distinct venues with a valid play, rooms = distinct (venue, room).
SELECT period AS month, song_id, score, plays, venues, rooms
FROM song_period_stats
WHERE period_kind = 'month'
