-- The earlier formulation of classified_plays.sql, kept as the peer
-- of queries/classified_plays.sql in benches/benches/hot_paths.rs: every play ranked
-- by a window over event_id, i.e. a sort of all plays with their columns.
WITH copies AS (
    SELECT
        event_id, venue_id, room_id, song_id, started_at, played_ms, vod_vendor, date,
        ROW_NUMBER() OVER (
            PARTITION BY event_id
            ORDER BY started_at ASC NULLS LAST, played_ms DESC NULLS LAST,
                     venue_id ASC NULLS LAST, room_id ASC NULLS LAST, song_id ASC NULLS LAST
        ) AS copy_number,
        COUNT(*) OVER (PARTITION BY event_id) AS copies
    FROM plays
    WHERE event_id IS NOT NULL
),
deduplicated AS (
    SELECT event_id, copies, venue_id, room_id, song_id, started_at, played_ms, vod_vendor, date
    FROM copies
    WHERE copy_number = 1
    UNION ALL
    -- Rows without an event_id cannot be deduplicated: each is kept (and excluded below).
    SELECT event_id, 1 AS copies, venue_id, room_id, song_id, started_at, played_ms, vod_vendor, date
    FROM plays
    WHERE event_id IS NULL
)
SELECT
    d.event_id, d.copies, d.venue_id, d.room_id, d.song_id, d.started_at, d.played_ms,
    d.vod_vendor, d.date,
    COALESCE(business_day(d.started_at), d.date) AS business_day,
    CASE
        WHEN d.event_id IS NULL OR d.venue_id IS NULL OR d.room_id IS NULL
          OR d.song_id IS NULL OR d.started_at IS NULL OR d.played_ms IS NULL
            THEN 'missing_value'
        WHEN d.played_ms < gm_param('min_played_ms') THEN 'short_play'
        WHEN s.song_id IS NULL THEN 'unknown_song'
        WHEN v.venue_id IS NULL THEN 'unknown_venue'
    END AS exclusion
FROM deduplicated AS d
LEFT JOIN (SELECT DISTINCT song_id FROM songs) AS s ON s.song_id = d.song_id
LEFT JOIN (SELECT DISTINCT venue_id FROM venues) AS v ON v.venue_id = d.venue_id
