-- Valid plays per business day, venue, room and song, and the score they earn:
-- at most gm_param('room_cap') plays count per room, song and business day.
SELECT
    business_day, venue_id, room_id, song_id,
    COUNT(*) AS plays,
    LEAST(COUNT(*), gm_param('room_cap')) AS score
FROM valid_plays
GROUP BY business_day, venue_id, room_id, song_id
