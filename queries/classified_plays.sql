-- GM-1: every play event once, with its business day and, when it cannot count
-- towards a chart, the reason (exclusion IS NULL for a valid play).
--
-- * Exclusions, first match wins: the rules of checked_plays.sql (missing_value,
--   short_play), then unknown_song (not in songs), unknown_venue (not in venues).
SELECT
    d.event_id, d.copies, d.venue_id, d.room_id, d.song_id, d.started_at, d.played_ms,
    d.vod_vendor, d.date, d.business_day,
    -- The first rule that matches: the smallest rule number, then its name. (A CASE
    -- with one WHEN per rule says the same; DataFusion 55 evaluates each further WHEN
    -- on a copy of the rows not matched yet, which cost twice as much here.)
    CASE LEAST(
            d.first_rule,
            CASE WHEN s.song_id IS NULL THEN 3 ELSE 5 END,
            CASE WHEN v.venue_id IS NULL THEN 4 ELSE 5 END)
        WHEN 1 THEN 'missing_value'
        WHEN 2 THEN 'short_play'
        WHEN 3 THEN 'unknown_song'
        WHEN 4 THEN 'unknown_venue'
    END AS exclusion
FROM checked_plays AS d
LEFT JOIN (SELECT DISTINCT song_id FROM songs) AS s ON s.song_id = d.song_id
LEFT JOIN (SELECT DISTINCT venue_id FROM venues) AS v ON v.venue_id = d.venue_id
