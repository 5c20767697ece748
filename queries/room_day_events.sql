-- Play events per business day, venue, room, song and first rule of checked_plays.sql
-- (the rank of missing_value or short_play, or exclusion_rank('none')), with the play
-- rows they came from:
-- what the plays contribute to the charts before songs and venues are looked up.
-- Over one date= partition this is the partition's day digest (docs/ARCHITECTURE.md).
SELECT business_day, venue_id, room_id, song_id, first_rule,
       COUNT(*) AS events,
       SUM(copies) AS rows_received
FROM checked_plays
GROUP BY business_day, venue_id, room_id, song_id, first_rule
