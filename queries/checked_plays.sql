-- GM-1: every play event once, with its business day and the first rule it fails
-- that needs no lookup of songs or venues (classified_plays.sql adds those).
--
-- * Re-sent events: an event_id seen more than once counts once. The copy kept is
--   the earliest (started_at), then the longest (played_ms), then the smallest
--   venue_id, room_id, song_id; `copies` says how many rows carried the event_id.
--   Only the copies of re-sent events (resent_events.sql) are ranked.
-- * business_day(started_at): the Asia/Shanghai date of started_at minus 06:00
--   (methodology parameters). A row without started_at falls back to its partition date.
-- * first_rule: the rank of the first exclusion rule the event fails among those on
--   the plays alone, missing_value (a required column is NULL) and short_play
--   (played_ms < gm_param('min_played_ms')), or exclusion_rank('none').
WITH kept_copies AS (
    -- Of each re-sent event (resent_events.sql), the copy kept: the first of its copies
    -- in the order below, i.e. the one whose predecessor in that order is another
    -- event's. (The same as ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ...) = 1,
    -- which DataFusion 55 computes several times slower over a million two-row
    -- partitions, as measured when this was written: git log -S previous_event_id.)
    SELECT event_id, copies, venue_id, room_id, song_id, started_at, played_ms, vod_vendor, date
    FROM (
        SELECT
            p.event_id, r.copies, p.venue_id, p.room_id, p.song_id, p.started_at, p.played_ms,
            p.vod_vendor, p.date,
            -- (r.event_id, equal to p.event_id, so that the sort stays after the join
            -- and sorts its 2 % of the rows, with the join filtering the scan.)
            LAG(r.event_id) OVER (
                ORDER BY r.event_id,
                         p.started_at ASC NULLS LAST, p.played_ms DESC NULLS LAST,
                         p.venue_id ASC NULLS LAST, p.room_id ASC NULLS LAST, p.song_id ASC NULLS LAST
            ) AS previous_event_id
        FROM resent_events AS r
        JOIN plays AS p ON p.event_id = r.event_id
    ) AS copies
    WHERE previous_event_id IS DISTINCT FROM event_id
),
deduplicated AS (
    -- Events sent once, and rows without an event_id (which cannot be deduplicated:
    -- each is kept, and excluded below), pass through. The re-sent events come first
    -- in both joins: a hash join builds on its left side when it cannot tell sizes.
    SELECT p.event_id, 1 AS copies, p.venue_id, p.room_id, p.song_id, p.started_at, p.played_ms,
           p.vod_vendor, p.date
    FROM resent_events AS r
    RIGHT ANTI JOIN plays AS p ON p.event_id = r.event_id
    UNION ALL
    SELECT event_id, copies, venue_id, room_id, song_id, started_at, played_ms, vod_vendor, date
    FROM kept_copies
)
-- The business day and the rules that need no lookup, computed before the joins
-- of classified_plays.sql with songs and venues, so that the joins carry these
-- instead of the columns they are computed from.
SELECT event_id, copies, venue_id, room_id, song_id, started_at, played_ms, vod_vendor, date,
       COALESCE(business_day(started_at), date) AS business_day,
       LEAST(
           CASE WHEN event_id IS NULL OR venue_id IS NULL OR room_id IS NULL
             OR song_id IS NULL OR started_at IS NULL OR played_ms IS NULL
               THEN exclusion_rank('missing_value') ELSE exclusion_rank('none') END,
           CASE WHEN played_ms < gm_param('min_played_ms')
               THEN exclusion_rank('short_play') ELSE exclusion_rank('none') END) AS first_rule
FROM deduplicated
