-- The view valid_plays over tests/views/inputs.sql (its rows in a total order).
SELECT event_id, venue_id, room_id, song_id, started_at, played_ms, business_day
FROM valid_plays ORDER BY event_id;
