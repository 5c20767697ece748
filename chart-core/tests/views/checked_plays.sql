-- The view checked_plays over tests/views/inputs.sql (its rows in a total order).
SELECT event_id, copies, venue_id, room_id, song_id, started_at, played_ms, business_day, first_rule
FROM checked_plays ORDER BY event_id NULLS FIRST, started_at;
