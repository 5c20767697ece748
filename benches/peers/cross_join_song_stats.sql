-- The earlier formulation of the per-song figures, kept as the peer of
-- queries/room_period_plays.sql and song_period_stats.sql in benches/benches/hot_paths.rs:
-- both period kinds from a cross join (a constant group key once filtered on, which
-- DataFusion 55 aggregates in its partially-ordered mode) and COUNT(DISTINCT venue_id).
WITH room_period_plays AS (
    SELECT
        k.period_kind,
        period_of(k.period_kind, r.business_day) AS period,
        r.venue_id, r.room_id, r.song_id,
        SUM(r.plays) AS plays,
        SUM(r.score) AS score
    FROM room_day_plays AS r
    CROSS JOIN (VALUES ('month'), ('year')) AS k(period_kind)
    GROUP BY k.period_kind, period_of(k.period_kind, r.business_day), r.venue_id, r.room_id, r.song_id
),
song_period_stats AS (
    SELECT
        period_kind, period, song_id,
        SUM(score) AS score,
        SUM(plays) AS plays,
        COUNT(DISTINCT venue_id) AS venues,
        COUNT(*) AS rooms
    FROM room_period_plays
    GROUP BY period_kind, period, song_id
)
SELECT COUNT(*) AS songs, SUM(score) AS score, SUM(venues) AS venues, SUM(rooms) AS rooms
FROM song_period_stats
WHERE period_kind = 'month'
