-- GM-1: every play event once, with its business day and, when it cannot count
-- towards a chart, the reason (exclusion IS NULL for a valid play).
--
-- * Exclusions, first match wins: the rules of checked_plays.sql (missing_value,
--   short_play), then unknown_song (not in songs), unknown_venue (not in venues).
SELECT
    d.event_id, d.copies, d.venue_id, d.room_id, d.song_id, d.started_at, d.played_ms,
    d.vod_vendor, d.date, d.business_day,
    -- The first rule that matches: the smallest rank, then its name (NULL for none).
    -- (A CASE with one WHEN per rule says the same; DataFusion 55 evaluates each
    -- further WHEN on a copy of the rows not matched yet, which cost twice as much.)
    exclusion_name(LEAST(
        d.first_rule,
        CASE WHEN s.song_id IS NULL
            THEN exclusion_rank('unknown_song') ELSE exclusion_rank('none') END,
        CASE WHEN v.venue_id IS NULL
            THEN exclusion_rank('unknown_venue') ELSE exclusion_rank('none') END)) AS exclusion
FROM checked_plays AS d
LEFT JOIN (SELECT DISTINCT song_id FROM songs) AS s ON s.song_id = d.song_id
LEFT JOIN (SELECT DISTINCT venue_id FROM venues) AS v ON v.venue_id = d.venue_id
