-- What became of the play rows of each chart period under GM-1: rows received,
-- re-sent copies removed, events excluded by reason, valid plays, and valid plays
-- beyond the room cap (counted in plays, not in score).
WITH outcomes AS (
    SELECT k.period_kind, period_of(k.period_kind, c.business_day) AS period, c.copies, c.exclusion
    FROM classified_plays AS c
    CROSS JOIN (VALUES ('month'), ('year')) AS k(period_kind)
    WHERE c.business_day IS NOT NULL
),
capped AS (
    SELECT period_kind, period, SUM(plays) - SUM(score) AS over_room_cap
    FROM room_period_plays
    GROUP BY period_kind, period
)
SELECT
    o.period_kind, o.period,
    SUM(o.copies) AS rows_received,
    SUM(o.copies - 1) AS duplicate_copies,
    COUNT(*) FILTER (WHERE o.exclusion = 'missing_value') AS missing_value,
    COUNT(*) FILTER (WHERE o.exclusion = 'short_play') AS short_play,
    COUNT(*) FILTER (WHERE o.exclusion = 'unknown_song') AS unknown_song,
    COUNT(*) FILTER (WHERE o.exclusion = 'unknown_venue') AS unknown_venue,
    COUNT(*) FILTER (WHERE o.exclusion IS NULL) AS valid_plays,
    COALESCE(MAX(c.over_room_cap), 0) AS over_room_cap
FROM outcomes AS o
LEFT JOIN capped AS c ON c.period_kind = o.period_kind AND c.period = o.period
GROUP BY o.period_kind, o.period
