-- The formulation of the per-song figures before the room cap moved into one aggregate
-- (room_figures, queries/song_period_stats.sql), kept as its peer in
-- benches/benches/hot_paths.rs: room_period_plays (an aggregate per business day, room and
-- song, then per month, room and song), then per song and venue, then per song.
SELECT COUNT(*) AS songs, SUM(score) AS score, SUM(venues) AS venues, SUM(rooms) AS rooms
FROM (
    SELECT period, song_id,
           SUM(score) AS score, SUM(plays) AS plays, COUNT(*) AS venues, SUM(rooms) AS rooms
    FROM (
        SELECT period, song_id, venue_id,
               SUM(score) AS score, SUM(plays) AS plays, COUNT(*) AS rooms
        FROM room_period_plays
        WHERE period_kind = 'month'
        GROUP BY period, song_id, venue_id
    ) AS song_venues
    GROUP BY period, song_id
) AS song_period_stats
