-- The formulation of the per-song figures before room_figures took the venue
-- (queries/song_period_stats.sql at f58f40e), kept as its peer in
-- benches/benches/hot_paths.rs: room_figures per (month, song, venue), then a second
-- aggregate per (month, song) that counts the venues.
SELECT COUNT(*) AS songs, SUM(score) AS score, SUM(venues) AS venues, SUM(rooms) AS rooms
FROM (
    SELECT period_start, song_id,
           SUM(f['score']) AS score, SUM(f['plays']) AS plays, COUNT(*) AS venues,
           SUM(f['rooms']) AS rooms
    FROM (
        SELECT date_trunc('month', business_day) AS period_start, song_id, venue_id,
               room_figures(room_id, business_day, gm_param('room_cap')) AS f
        FROM valid_plays
        GROUP BY date_trunc('month', business_day), song_id, venue_id
    ) AS song_venues
    GROUP BY period_start, song_id
) AS song_period_stats
