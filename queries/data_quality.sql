-- What became of the play rows of each chart period under GM-1: rows received,
-- re-sent copies removed, events excluded by reason, valid plays, and valid plays
-- beyond the room cap (counted in plays, not in score).
WITH outcomes AS (
    SELECT
        period_kind, period,
        SUM(rows_received) AS rows_received,
        SUM(rows_received - events) AS duplicate_copies,
        COALESCE(SUM(events) FILTER (WHERE exclusion = 'missing_value'), 0) AS missing_value,
        COALESCE(SUM(events) FILTER (WHERE exclusion = 'short_play'), 0) AS short_play,
        COALESCE(SUM(events) FILTER (WHERE exclusion = 'unknown_song'), 0) AS unknown_song,
        COALESCE(SUM(events) FILTER (WHERE exclusion = 'unknown_venue'), 0) AS unknown_venue,
        COALESCE(SUM(events) FILTER (WHERE exclusion IS NULL), 0) AS valid_plays
    FROM room_period_outcomes
    GROUP BY period_kind, period
),
capped AS (
    SELECT period_kind, period, SUM(plays) - SUM(score) AS over_room_cap
    FROM song_period_stats
    GROUP BY period_kind, period
)
SELECT
    o.period_kind, o.period, o.rows_received, o.duplicate_copies,
    o.missing_value, o.short_play, o.unknown_song, o.unknown_venue, o.valid_plays,
    COALESCE(c.over_room_cap, 0) AS over_room_cap
FROM outcomes AS o
LEFT JOIN capped AS c ON c.period_kind = o.period_kind AND c.period = o.period
