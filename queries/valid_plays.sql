-- GM-1 valid plays: deduplicated, with a business day, long enough, of a known song
-- in a known venue. One row per counted play event.
SELECT event_id, venue_id, room_id, song_id, started_at, played_ms, vod_vendor, business_day
FROM classified_plays
WHERE exclusion IS NULL
